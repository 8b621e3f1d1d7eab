# php -S, the built-in web server with PHP_CLI_SERVER_WORKERS=2 (a prefork
# server: the workers are forked before any connection) running a script
# that echoes a POST body; client curl --data-binary.
NAME=php-prefork
DESC="php -S (2 prefork workers) / curl POST"
KIND="prefork server, interpreter"
PKGS="php-cli curl"
prog_run() {
	local p
	p=$(free_port)
	mkdir -p "$T/www"
	echo '<?php echo file_get_contents("php://input");' >"$T/www/echo.php"
	PHP_CLI_SERVER_WORKERS=2 srv_bg php php -S "127.0.0.1:$p" -t "$T/www"
	listen_or_bail "$p" "$BG_PID" php
	tap_to "$p"
	make_want 200000
	cli curl -sS --fail -H 'Expect:' --data-binary "@$T/want" -o "$T/got" "http://127.0.0.1:$TAP_PORT/echo.php"
}
