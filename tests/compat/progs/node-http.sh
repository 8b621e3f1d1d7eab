# node.js (libuv) http server streaming a body / a node http.get client.
NAME=node-http
DESC="node http server / node http.get"
KIND="event loop (libuv), interpreter"
PKGS="nodejs"
prog_run() {
	local p
	p=$(free_port)
	make_want 1000000
	srv_bg node node -e '
		const fs = require("fs"); const body = fs.readFileSync(process.argv[1]);
		require("http").createServer((q, r) => { r.end(body); }).listen(+process.argv[2], "127.0.0.1");' "$T/want" "$p"
	listen_or_bail "$p" "$BG_PID" node
	tap_to "$p"
	cli node -e '
		const fs = require("fs"); const out = fs.createWriteStream(process.argv[2]);
		require("http").get("http://127.0.0.1:" + process.argv[1] + "/", (r) => {
			r.pipe(out); out.on("finish", () => process.exit(0)); }).on("error", (e) => { console.error(e); process.exit(1); });' "$TAP_PORT" "$T/got"
}
