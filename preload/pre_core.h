/* pre_core.h — the engine (libsecsock-engine.so), loaded on first need.
 *
 * preload/pre_core.c defines every OpenSSL-backed core function the preload
 * calls (ss_ctx_*, ss_cred_*, ss_rec_*, ss_buf_free, ss_hs_frame_len) under
 * its own name, as a trampoline into the engine's table, so call sites in
 * preload/ are unchanged.  See core/ss_engine.h for why.
 */
#ifndef PRE_CORE_H
#define PRE_CORE_H

#include <stddef.h>

/* Load the engine now if it is not loaded yet: 0 when it is usable, -1
 * when it is not (missing, not loadable, or a mismatched build; logged once
 * at ERROR with the path and the loader's reason).  Never call it while
 * holding a lock that code run by dlopen could need. */
int pre_core_load(void);

/* Why the engine is unusable ("" while it is fine or not tried yet). */
const char *pre_core_error(void);

#endif
