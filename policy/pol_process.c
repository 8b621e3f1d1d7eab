/* pol_process.c — the one policy a process runs under.
 *
 * Chosen once (pthread_once) the first time anything asks: $SECSOCK_POLICY,
 * read with secure_getenv so a setuid program cannot be pointed at a file of
 * the caller's choosing; else /etc/secsock/policy.conf when it exists; else
 * the embedded default.  A named file that fails to load gives NULL — the
 * caller then refuses what the policy would have governed (fail closed)
 * rather than guessing — and the diagnostics stay here for it to log.
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include "pol_internal.h"

#define SYSTEM_POLICY "/etc/secsock/policy.conf"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const pol_policy *proc_policy;
static pol_diags proc_diags;
static const char *proc_source;

static void load_process_policy(void)
{
	const char *env = secure_getenv("SECSOCK_POLICY");
	struct stat st;
	if (env != NULL && env[0] != '\0') {
		proc_source = env;    /* environment strings live for the process */
		proc_policy = pol_load_file(env, &proc_diags);
	} else if (lstat(SYSTEM_POLICY, &st) == 0) {
		/* lstat: a dangling symlink still "exists" and then fails to load,
		 * rather than silently falling back to the default */
		proc_source = SYSTEM_POLICY;
		proc_policy = pol_load_file(SYSTEM_POLICY, &proc_diags);
	} else {
		proc_source = "built-in default";
		proc_policy = pol_default();
	}
}

const pol_policy *pol_process_policy(const pol_diags **diags, const char **source)
{
	pthread_once(&once, load_process_policy);
	if (diags)
		*diags = &proc_diags;
	if (source)
		*source = proc_source;
	return proc_policy;
}
