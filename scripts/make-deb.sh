#!/bin/sh
# make-deb.sh OUTDIR VERSION — `make deb`: build the Debian package from a
# copy of the source tree in OUTDIR/secsock-VERSION, so that neither the
# build (debian/build, debian/secsock, ...) nor dpkg-buildpackage's results
# (written next to the source directory) touch the tree; then run lintian at
# its default level on the result.  The source package (.dsc, .tar.xz) is
# built too, so lintian checks debian/ itself.  Leaves
# OUTDIR/secsock_VERSION_ARCH.deb and prints its path last.  Exit non-zero
# when the build fails or lintian reports an error or a warning.
set -eu
out=$1
version=$2
src=$(cd "$(dirname "$0")/.." && pwd)
copy=$out/secsock-$version
rm -rf "$out"
mkdir -p "$copy"
# The files of the working tree (tracked and new, not ignored: build/ stays
# out); without git, everything but build directories.
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$src" && git ls-files -co --exclude-standard -z) |
		(cd "$src" && xargs -0 cp --parents -t "$copy")
else
	(cd "$src" && find . -path ./build -prune -o -path ./debian/build -prune -o -type f -print0) |
		(cd "$src" && xargs -0 cp --parents -t "$copy")
fi
chmod +x "$copy/debian/rules"

cd "$copy"
echo "make-deb: dpkg-buildpackage in $copy"
dpkg-buildpackage -us -uc -j"$(nproc)" >"$out/build.log" 2>&1 || {
	tail -n 40 "$out/build.log" >&2
	echo "make-deb: dpkg-buildpackage failed (full log: $out/build.log)" >&2
	exit 1
}
changes=$(ls "$out"/secsock_"$version"_*.changes)
echo "make-deb: lintian $(basename "$changes")"
rc=0
lintian --fail-on error,warning "$changes" >"$out/lintian.txt" 2>&1 || rc=$?
# lintian's one complaint about being run as root is not about the package
grep -v '^running with root privileges is not recommended!$' "$out/lintian.txt" || true
echo "make-deb: lintian at its default level: $(grep -c '^[EW]: ' "$out/lintian.txt") errors and warnings, exit $rc"
[ "$rc" = 0 ] || exit 1
ls "$out"/secsock_"$version"_*.deb
