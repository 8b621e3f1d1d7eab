/* ss_hostkey.h — the persistent Ed25519 host key of `host-key`
 * authentication (issue 13): made by `secsock keygen`, a PKCS#8 PEM file of
 * mode 0600 (readable by `openssl pkey`), identified by its fingerprint
 * (core/base/ss_peers.h). */
#ifndef SS_HOSTKEY_H
#define SS_HOSTKEY_H

#include <stddef.h>
#include "ss_peers.h"
#include "ss_status.h"

/* Make a new key at path (directories made 0700).  An existing file is
 * kept unless force (then replaced atomically).  fp gets its fingerprint. */
ss_status ss_hostkey_generate(const char *path, int force, char fp[SS_FP_LEN], char *err, size_t errn);
/* The fingerprint of the key in path (a private key or a public key PEM). */
ss_status ss_hostkey_fingerprint_file(const char *path, char fp[SS_FP_LEN], char *err, size_t errn);

#endif
