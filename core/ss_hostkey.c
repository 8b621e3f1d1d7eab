/* ss_hostkey.c — making and reading the host key (see ss_hostkey.h).
 * Ed25519 (RFC 8032) through OpenSSL, so the same key signs the TLS 1.3
 * handshake (RFC 8446 §4.2.3 ed25519 signature scheme). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include "ss_hostkey.h"

static ss_status fp_of(EVP_PKEY *k, char fp[SS_FP_LEN])
{
	uint8_t pub[32];
	size_t n = sizeof pub;
	if (EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519 || EVP_PKEY_get_raw_public_key(k, pub, &n) != 1 || n != 32)
		return SS_NO_CREDENTIALS;
	ss_fingerprint(pub, fp);
	return SS_OK;
}

ss_status ss_hostkey_generate(const char *path, int force, char fp[SS_FP_LEN], char *err, size_t errn)
{
	char tmp[PATH_MAX];
	struct stat st;
	EVP_PKEY *k = NULL;
	FILE *f = NULL;
	ss_status rc = SS_NO_CREDENTIALS;
	int fd;

	if (lstat(path, &st) == 0 && !force) {
		snprintf(err, errn, "%s exists (--force replaces it; peers that pinned it will refuse the new key)", path);
		return SS_NO_CREDENTIALS;
	}
	if (ss_mkdirs_for(path) != 0) {
		snprintf(err, errn, "%s: cannot make its directory: %s", path, strerror(errno));
		return SS_NO_CREDENTIALS;
	}
	if (snprintf(tmp, sizeof tmp, "%s.new.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
		snprintf(err, errn, "%s: path too long", path);
		return SS_NO_CREDENTIALS;
	}
	k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!k) {
		snprintf(err, errn, "cannot make an Ed25519 key (OpenSSL)");
		return SS_INTERNAL_ERROR;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		snprintf(err, errn, "%s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	if (PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) != 1 || fflush(f) != 0 || fsync(fileno(f)) != 0) {
		snprintf(err, errn, "%s: cannot write the key", tmp);
		fclose(f);
		unlink(tmp);
		goto out;
	}
	fclose(f);
	if (rename(tmp, path) != 0) {
		snprintf(err, errn, "%s: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	rc = fp_of(k, fp);
out:
	EVP_PKEY_free(k);
	return rc;
}

ss_status ss_hostkey_fingerprint_file(const char *path, char fp[SS_FP_LEN], char *err, size_t errn)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
	EVP_PKEY *k = NULL;
	ss_status rc;

	if (!f) {
		snprintf(err, errn, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return SS_NO_CREDENTIALS;
	}
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	if (!k) {
		rewind(f);
		k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	}
	fclose(f);
	if (!k) {
		snprintf(err, errn, "%s: not a PEM private or public key", path);
		return SS_NO_CREDENTIALS;
	}
	rc = fp_of(k, fp);
	if (rc != SS_OK)
		snprintf(err, errn, "%s: not an Ed25519 key", path);
	EVP_PKEY_free(k);
	return rc;
}

