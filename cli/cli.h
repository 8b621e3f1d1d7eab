/* cli.h — the `secsock` command: one file per subcommand, main.c dispatches. */
#ifndef CLI_H
#define CLI_H

/* Each subcommand gets argv with argv[0] = its own name ("policy", "run" …)
 * and returns the process exit status (0 ok, 1 failure, 2 usage). */
int cli_policy_main(int argc, char **argv);   /* cli/cli_policy.c */
int cli_run_main(int argc, char **argv);      /* cli/cli_run.c    */
int cli_keygen_main(int argc, char **argv);   /* cli/cli_keygen.c */
int cli_peers_main(int argc, char **argv);    /* cli/cli_keygen.c */
int cli_status_main(int argc, char **argv);   /* cli/cli_status.c */
int cli_kds_main(int argc, char **argv);      /* cli/cli_kds.c    */
int cli_gkdi_main(int argc, char **argv);     /* cli/cli_gkdi.c   */

/* The fields of a Group Key Envelope as one JSON line (cli/cli_gkdi.c;
 * `secsock gkdi envelope` and `secsock kds get-key` print the same). */
struct ss_gkdi_env;
void cli_gkdi_print_env(const struct ss_gkdi_env *e);

#endif
