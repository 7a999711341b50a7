#!/bin/sh
# Installs the Cluster Sentinel agent on this machine as a systemd service, or removes it.
# Run as root. The collector prints the command to paste, e.g.
#   curl -fsSL http://COLLECTOR:8080/install/agent.sh | sudo sh -s -- --from http://COLLECTOR:8080 \
#     --collector COLLECTOR:8765 --token TOKEN
# or, in a checkout after `npm ci`:  sudo sh scripts/install-agent.sh --collector HOST:PORT --token TOKEN
# Run it again to update (it keeps the settings it is not given); --uninstall removes it.
# Everything runs inside main(), called on the last line, so a download cut short runs nothing.
set -eu

UNIT=cluster-sentinel-agent.service
SERVICE_USER=cluster-sentinel
MIN_NODE_MAJOR=20
DEFAULT_SYSTEMD_DIR=/etc/systemd/system

usage() {
	cat <<'EOF'
Usage: install-agent.sh --collector HOST:PORT --token TOKEN [options]
       install-agent.sh --uninstall [--prefix DIR] [--config-dir DIR]

Installs the Cluster Sentinel agent as the systemd service cluster-sentinel-agent: the agent
bundle into PREFIX/agent, its settings into CONFIG_DIR/agent.json (mode 0640,
root:cluster-sentinel), the unit into /etc/systemd/system; enables it (it starts at boot) and
starts it. Run as root. Run again to update: settings not given are kept from agent.json.

Where the agent comes from (one of):
  --from URL           the collector's dashboard, e.g. http://10.0.0.5:8080 (fetches
                       URL/install/agent.tar.gz with curl or wget)
  --bundle FILE        an agent bundle (.tar.gz) already on this machine
  (neither)            the checkout this script is in, after `npm ci` (which builds dist/)

Settings (written to agent.json; required on first install: --collector, --token):
  --collector HOST:PORT  where the collector listens for agents
  --token TOKEN          this host's token, or the cluster token the collector printed
  --name NAME            this host's name on the dashboard (default: the machine's host name)
  --ca FILE              PEM of the private CA of the collector's TLS certificate (copied to
                         CONFIG_DIR/agent-ca.pem; implies TLS; also checks an https --from)
  --tls on|off           speak TLS to the collector (certificate checked against the system CAs)

Options:
  --prefix DIR           where the agent goes (default /opt/cluster-sentinel)
  --config-dir DIR       where agent.json goes (default /etc/cluster-sentinel)
  --node PATH            the node to run it with, 20 or later (default: node on PATH; if there
                         is none and apt-get exists, Debian's nodejs is installed)
  --no-start             enable the service (it starts at boot) but do not start it now
  --no-powercap          do not give the service read access to the RAPL energy counters
                         (/sys/class/powercap, root-only since Linux 5.10); power is then estimated
  --systemd-dir DIR      where the unit goes (default /etc/systemd/system); another DIR ending
                         in /etc/systemd/system is an image's root: enabled there, never started
  --uninstall            stop and disable the service, remove the unit, PREFIX/agent and
                         agent.json; the cluster-sentinel user is kept (userdel removes it)
  --help                 print this and exit
EOF
}

say() { printf 'install-agent: %s\n' "$*"; }
die() {
	printf 'install-agent: error: %s\n' "$*" >&2
	exit 1
}

# Temporary files and directories, removed on exit whatever happens.
TMP_PATHS=''
cleanup() {
	for p in $TMP_PATHS; do rm -rf -- "$p"; done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A path that goes into a unit line and a sed replacement: absolute, no spaces or specials.
check_path() {
	case "$2" in
	/*) ;;
	*) die "$1 must be an absolute path, got '$2'" ;;
	esac
	if printf '%s' "$2" | grep -q '[^A-Za-z0-9._/+-]'; then
		die "$1 may hold only letters, digits and . _ + - / (it goes into the systemd unit), got '$2'"
	fi
}

# fetch URL FILE: downloads with curl or wget, whichever exists (with --ca for https). On an
# HTTP error, shows a short text answer: the collector says there why it cannot serve the file.
fetch() {
	rm -f "$2"
	if command -v curl >/dev/null 2>&1; then
		if [ -n "$CA" ]; then
			code=$(curl -sSL --connect-timeout 15 --max-time 300 --cacert "$CA" -o "$2" -w '%{http_code}' "$1") || code=''
		else
			code=$(curl -sSL --connect-timeout 15 --max-time 300 -o "$2" -w '%{http_code}' "$1") || code=''
		fi
		if [ "$code" = 200 ]; then return 0; fi
	elif command -v wget >/dev/null 2>&1; then
		if [ -n "$CA" ]; then
			if wget -q --timeout=30 --tries=2 --content-on-error --ca-certificate="$CA" -O "$2" "$1"; then return 0; fi
		else
			if wget -q --timeout=30 --tries=2 --content-on-error -O "$2" "$1"; then return 0; fi
		fi
	else
		die "neither curl nor wget is installed: install one (apt-get install curl) or pass --bundle FILE"
	fi
	if [ -s "$2" ] && [ "$(wc -c <"$2")" -lt 2000 ]; then sed 's/^/  /' "$2" >&2; fi
	return 1
}

node_version() {
	"$1" -e 'process.stdout.write(process.versions.node)' 2>/dev/null
}

find_node() {
	if [ -n "$NODE" ]; then return 0; fi
	NODE=$(command -v node 2>/dev/null || command -v nodejs 2>/dev/null || true)
}

# Sets NODE to a node of MIN_NODE_MAJOR or later, or stops saying what was found.
check_node() {
	node_given=$NODE
	find_node
	if [ -z "$NODE" ] && command -v apt-get >/dev/null 2>&1; then
		say "node not found: installing Debian's nodejs (apt-get install nodejs)"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq || die "apt-get update failed"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs || die "apt-get install nodejs failed"
		find_node
	fi
	[ -n "$NODE" ] || die "Node.js not found: the agent needs node $MIN_NODE_MAJOR or later (install it, or pass --node PATH)"
	check_path --node "$NODE"
	[ -x "$NODE" ] || die "$NODE is not an executable file"
	version=$(node_version "$NODE") || die "$NODE does not run (node --version failed)"
	major=${version%%.*}
	case "$major" in
	'' | *[!0-9]*) die "$NODE printed an unexpected version: '$version'" ;;
	esac
	if [ "$major" -lt "$MIN_NODE_MAJOR" ]; then
		die "found Node.js $version at $NODE, but the agent needs Node.js $MIN_NODE_MAJOR or later.
  Debian 12's own nodejs is 18; Debian 13 has 20. Install Node.js $MIN_NODE_MAJOR+ (e.g. from
  NodeSource's Debian packages) and run this again, or point to one with --node PATH."
	fi
	case "$NODE" in
	/root/* | /home/*) say "warning: $NODE is under a home directory, which the service user may not be able to reach; a system-wide node (/usr/bin/node) is safer" ;;
	esac
	if [ -n "$node_given" ]; then say "using node $version ($NODE, from --node)"; else say "using node $version ($NODE)"; fi
}

ensure_user() {
	if ! getent group "$SERVICE_USER" >/dev/null 2>&1; then
		groupadd --system "$SERVICE_USER"
		say "created group $SERVICE_USER"
	fi
	if ! getent passwd "$SERVICE_USER" >/dev/null 2>&1; then
		nologin=/usr/sbin/nologin
		[ -x "$nologin" ] || nologin=/sbin/nologin
		[ -x "$nologin" ] || nologin=/bin/false
		useradd --system --gid "$SERVICE_USER" --no-create-home --home-dir /nonexistent \
			--shell "$nologin" --comment 'Cluster Sentinel' "$SERVICE_USER"
		say "created system user $SERVICE_USER"
	fi
}

# Puts the agent bundle into STAGE/agent, from --from, --bundle or this checkout.
stage_bundle() {
	if [ -n "$FROM" ] || [ -n "$BUNDLE" ]; then
		archive=$BUNDLE
		if [ -n "$FROM" ]; then
			archive="$STAGE/agent.tar.gz"
			say "fetching $FROM/install/agent.tar.gz"
			fetch "$FROM/install/agent.tar.gz" "$archive" || die "could not fetch $FROM/install/agent.tar.gz (above: why; is that the collector's dashboard, reachable from here?)"
		fi
		[ -f "$archive" ] || die "no such bundle: $archive"
		tar -xzf "$archive" -C "$STAGE" --no-same-owner || die "cannot unpack $archive (not a .tar.gz agent bundle?)"
		rm -f "$STAGE/agent.tar.gz"
		[ -f "$STAGE/agent/dist/agent/main.js" ] || die "$archive holds no agent/dist/agent/main.js: not an agent bundle"
		return 0
	fi
	case "$0" in
	*/install-agent.sh) root=$(cd "$(dirname "$0")/.." && pwd) ;;
	*) root='' ;;
	esac
	if [ -z "$root" ] || [ ! -f "$root/package.json" ]; then
		die "where from? pass --from http://COLLECTOR:8080 (its dashboard), or --bundle FILE, or run this script from a checkout"
	fi
	[ -f "$root/dist/agent/main.js" ] || die "$root/dist is not built: run 'npm ci' (or 'npm run build') in $root first, or pass --from / --bundle"
	for pkg in msgpackr systeminformation; do
		[ -d "$root/node_modules/$pkg" ] || die "$root/node_modules/$pkg is missing: run 'npm ci' in $root first"
	done
	newer=$(find "$root/agent" "$root/shared" -name '*.ts' -newer "$root/dist/agent/main.js" 2>/dev/null | head -n 1)
	[ -z "$newer" ] || die "$root/dist is older than the sources ($newer): run 'npm run build' in $root first"
	mkdir -p "$STAGE/agent/dist" "$STAGE/agent/node_modules" "$STAGE/agent/systemd"
	cp -R "$root/dist/agent" "$root/dist/shared" "$STAGE/agent/dist/"
	cp -R "$root/node_modules/msgpackr" "$root/node_modules/systeminformation" "$STAGE/agent/node_modules/"
	cp "$root/scripts/systemd/$UNIT" "$STAGE/agent/systemd/"
	# The same package.json as the collector's bundle (dashboard/install_bundle.ts).
	"$NODE" -e '
		const v = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8")).version;
		process.stdout.write(JSON.stringify({ name: "cluster-sentinel-agent", version: v, private: true, type: "module" }, null, 2) + "\n");
	' "$root/package.json" >"$STAGE/agent/package.json"
}

# Writes the merged settings to stdout: agent.json's (if any), then those given here. Values
# go through the environment, not the command line, so the token never shows in ps.
merged_config() {
	# shellcheck disable=SC2016 # ${file} is JavaScript's, not the shell's.
	SET_COLLECTOR=$COLLECTOR SET_TOKEN=$TOKEN SET_NAME=$NAME SET_CA=$CA_DEST SET_TLS=$TLS \
		"$NODE" -e '
		const fs = require("node:fs");
		const file = process.argv[1];
		let cfg = {};
		try {
			cfg = JSON.parse(fs.readFileSync(file, "utf8"));
		} catch (err) {
			if (err.code !== "ENOENT") { console.error(`install-agent: error: ${file} exists but cannot be read as JSON (${err.message}): fix or remove it`); process.exit(1); }
		}
		if (cfg === null || typeof cfg !== "object" || Array.isArray(cfg)) { console.error(`install-agent: error: ${file} is not a JSON object: fix or remove it`); process.exit(1); }
		const set = { collector: "SET_COLLECTOR", token: "SET_TOKEN", name: "SET_NAME", ca: "SET_CA", tls: "SET_TLS" };
		for (const [key, env] of Object.entries(set)) if (process.env[env]) cfg[key] = process.env[env];
		for (const key of ["collector", "token"]) {
			if (typeof cfg[key] !== "string" || cfg[key] === "") { console.error(`install-agent: error: --${key} is required (${file} has none yet)`); process.exit(1); }
		}
		process.stdout.write(JSON.stringify(cfg, null, 2) + "\n");
	' "$CONFIG_FILE"
}

# check_config BUNDLE FILE NAME: the bundle's own settings parser reads FILE as the agent will at
# start (unknown keys, bad values, a missing setting: exit 2 naming it). Skipped, with a
# warning, for a bundle whose parser is not where this script looks.
check_config() {
	# shellcheck disable=SC2016 # ${...} are JavaScript's, not the shell's.
	MSGPACKR_NATIVE_ACCELERATION_DISABLED=true "$NODE" --input-type=module -e '
		const [bundle, file, name] = process.argv.slice(1);
		let loadConfig, AGENT_SETTINGS;
		try {
			({ loadConfig } = await import(`${bundle}/dist/shared/config.js`));
			({ AGENT_SETTINGS } = await import(`${bundle}/dist/agent/settings.js`));
		} catch (err) {
			console.error(`install-agent: warning: settings not checked (${err.message})`);
			process.exit(0);
		}
		try {
			loadConfig(AGENT_SETTINGS, ["--config", file], {});
		} catch (err) {
			console.error(`install-agent: error: ${String(err.message).split(file).join(name)}`);
			process.exit(2);
		}
	' "$1" "$2" "$3"
}

write_unit() {
	template="$PREFIX/agent/systemd/$UNIT"
	[ -f "$template" ] || die "the bundle has no systemd/$UNIT"
	tmp=$(mktemp "$SYSTEMD_DIR/.$UNIT.XXXXXX")
	TMP_PATHS="$TMP_PATHS $tmp"
	sed -e "s|__NODE__|$NODE|g" -e "s|__PREFIX__|$PREFIX|g" -e "s|__CONFIG_DIR__|$CONFIG_DIR|g" "$template" >"$tmp"
	if [ "$POWERCAP" = no ]; then
		sed -i -e '/^ExecStartPre=.*powercap/d' "$tmp"
	fi
	# RestartSteps= and RestartMaxDelaySec= (a back-off) exist from systemd 254 on.
	sd_version=$(systemctl --version 2>/dev/null | awk 'NR == 1 { print $2 }' || true)
	case "$sd_version" in
	'' | *[!0-9]*) ;;
	*) if [ "$sd_version" -ge 254 ]; then sed -i -e 's/^#systemd254+ //' "$tmp"; fi ;;
	esac
	chmod 0644 "$tmp"
	mv -f "$tmp" "$SYSTEMD_DIR/$UNIT"
	say "wrote $SYSTEMD_DIR/$UNIT"
}

enable_unit() {
	if ! command -v systemctl >/dev/null 2>&1; then
		say "systemctl not found: the unit is written but not enabled; without systemd, run the agent as its ExecStart line says"
		return 0
	fi
	if [ -n "$SYSTEMD_ROOT" ]; then
		systemctl --root="$SYSTEMD_ROOT" enable --quiet "$UNIT"
		say "enabled in $SYSTEMD_ROOT (not this machine's running systemd): it starts when that system boots"
		return 0
	fi
	if [ ! -d /run/systemd/system ]; then
		systemctl enable --quiet "$UNIT"
		say "systemd is not running here (a container?): $UNIT is enabled and starts at boot, but was not started now"
		return 0
	fi
	systemctl daemon-reload
	systemctl enable --quiet "$UNIT"
	if [ "$NO_START" = yes ]; then
		say "enabled $UNIT (starts at boot); not (re)started now (--no-start): systemctl restart $UNIT"
		return 0
	fi
	# restart, not start: a running agent picks up the new bundle and settings.
	systemctl restart "$UNIT"
	sleep 2
	if systemctl is-active --quiet "$UNIT"; then
		say "$UNIT is running and enabled (starts at boot); its log: journalctl -u $UNIT"
	else
		journalctl -u "$UNIT" -n 20 --no-pager 2>/dev/null || true
		die "$UNIT did not stay up (above: its last log lines; systemctl status $UNIT)"
	fi
}

install_agent() {
	[ -n "$FROM" ] && [ -n "$BUNDLE" ] && die "--from and --bundle: give one"
	check_node
	ensure_user
	umask 022
	mkdir -p "$PREFIX" "$CONFIG_DIR" "$SYSTEMD_DIR"
	chmod 0755 "$CONFIG_DIR"

	# 1. The new bundle, next to the old one (same filesystem, so the swap is a rename).
	STAGE=$(mktemp -d "$PREFIX/.agent-new.XXXXXX")
	TMP_PATHS="$TMP_PATHS $STAGE"
	stage_bundle
	chown -R root:root "$STAGE/agent"
	chmod -R u=rwX,go=rX "$STAGE/agent"
	chmod 0755 "$STAGE"
	version=$("$NODE" "$STAGE/agent/dist/agent/main.js" --version) || die "the new agent does not start under $NODE (see above)"

	# 2. The settings, written beside agent.json and checked by the new agent before anything moves.
	CA_DEST=''
	if [ -n "$CA" ]; then
		[ -f "$CA" ] || die "--ca $CA: no such file"
		CA_DEST="$CONFIG_DIR/agent-ca.pem"
		tmp_ca=$(mktemp "$CONFIG_DIR/.agent-ca.pem.XXXXXX")
		TMP_PATHS="$TMP_PATHS $tmp_ca"
		cp "$CA" "$tmp_ca"
		chmod 0644 "$tmp_ca"
	fi
	umask 077
	tmp_cfg=$(mktemp "$CONFIG_DIR/.agent.json.XXXXXX")
	TMP_PATHS="$TMP_PATHS $tmp_cfg"
	merged_config >"$tmp_cfg" || exit 1
	chown "root:$SERVICE_USER" "$tmp_cfg"
	chmod 0640 "$tmp_cfg"
	umask 022
	if [ -n "$CA" ]; then mv -f "$tmp_ca" "$CA_DEST"; fi
	check_config "$STAGE/agent" "$tmp_cfg" "$CONFIG_FILE" || die "the agent refuses these settings (above); nothing was changed"

	# 3. Swap: the old bundle out, the new one in, then the settings.
	old=''
	if [ -e "$PREFIX/agent" ]; then
		old=$(mktemp -d "$PREFIX/.agent-old.XXXXXX")
		TMP_PATHS="$TMP_PATHS $old"
		mv "$PREFIX/agent" "$old/agent"
	fi
	mv "$STAGE/agent" "$PREFIX/agent"
	chmod 0755 "$PREFIX"
	mv -f "$tmp_cfg" "$CONFIG_FILE"
	say "installed agent $version in $PREFIX/agent; settings in $CONFIG_FILE (0640 root:$SERVICE_USER)"

	# 4. The unit.
	write_unit
	enable_unit
}

# Gives the RAPL counters back to root only, if this service had opened them to its group.
close_powercap() {
	for f in /sys/class/powercap/intel-rapl:*/energy_uj; do
		[ -e "$f" ] || continue
		if [ "$(stat -c %G "$f" 2>/dev/null || true)" = "$SERVICE_USER" ]; then
			if chgrp root "$f" 2>/dev/null; then chmod g-r "$f" 2>/dev/null || true; fi
		fi
	done
}

uninstall_agent() {
	if command -v systemctl >/dev/null 2>&1; then
		if [ -n "$SYSTEMD_ROOT" ]; then
			systemctl --root="$SYSTEMD_ROOT" disable --quiet "$UNIT" 2>/dev/null || true
		elif [ -d /run/systemd/system ]; then
			systemctl disable --now --quiet "$UNIT" 2>/dev/null || true
		else
			systemctl disable --quiet "$UNIT" 2>/dev/null || true
		fi
	fi
	rm -f "$SYSTEMD_DIR/multi-user.target.wants/$UNIT" "$SYSTEMD_DIR/$UNIT"
	if [ -z "$SYSTEMD_ROOT" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
	if [ -d "$SYSTEMD_DIR/$UNIT.d" ]; then say "kept $SYSTEMD_DIR/$UNIT.d (your drop-ins): remove it by hand if unwanted"; fi
	rm -rf "$PREFIX/agent"
	rm -rf "$PREFIX"/.agent-new.* "$PREFIX"/.agent-old.*
	rmdir "$PREFIX" 2>/dev/null || true
	rm -f "$CONFIG_FILE" "$CONFIG_DIR/agent-ca.pem"
	rmdir "$CONFIG_DIR" 2>/dev/null || true
	close_powercap
	say "removed $UNIT, $PREFIX/agent and $CONFIG_FILE"
	say "kept the user and group $SERVICE_USER (the collector's unit uses them too): 'userdel $SERVICE_USER' removes them"
}

main() {
	COLLECTOR='' TOKEN='' NAME='' FROM='' BUNDLE='' CA='' TLS='' NODE=''
	PREFIX=/opt/cluster-sentinel CONFIG_DIR=/etc/cluster-sentinel SYSTEMD_DIR=$DEFAULT_SYSTEMD_DIR
	NO_START=no POWERCAP=yes UNINSTALL=no
	while [ $# -gt 0 ]; do
		opt=$1
		case "$opt" in
		--*=*)
			# --flag=value: the same as --flag value.
			shift
			set -- "${opt%%=*}" "${opt#*=}" "$@"
			continue
			;;
		--collector | --token | --name | --from | --bundle | --prefix | --config-dir | --ca | --tls | --node | --systemd-dir)
			[ $# -ge 2 ] || die "$opt needs a value (see --help)"
			val=$2
			shift 2
			case "$opt" in
			--collector) COLLECTOR=$val ;;
			--token) TOKEN=$val ;;
			--name) NAME=$val ;;
			--from) FROM=${val%/} ;;
			--bundle) BUNDLE=$val ;;
			--prefix) PREFIX=${val%/} ;;
			--config-dir) CONFIG_DIR=${val%/} ;;
			--ca) CA=$val ;;
			--tls) TLS=$val ;;
			--node) NODE=$val ;;
			--systemd-dir) SYSTEMD_DIR=${val%/} ;;
			esac
			;;
		--no-start) NO_START=yes && shift ;;
		--no-powercap) POWERCAP=no && shift ;;
		--uninstall) UNINSTALL=yes && shift ;;
		--help | -h)
			usage
			exit 0
			;;
		*) die "unknown option '$opt' (see --help)" ;;
		esac
	done
	[ "$(id -u)" = 0 ] || die "run as root (sudo sh $0 ...): it creates a system user and writes /opt, /etc and the systemd unit"
	check_path --prefix "$PREFIX"
	check_path --config-dir "$CONFIG_DIR"
	check_path --systemd-dir "$SYSTEMD_DIR"
	case "$SYSTEMD_DIR" in
	"$DEFAULT_SYSTEMD_DIR") SYSTEMD_ROOT='' ;;
	*"$DEFAULT_SYSTEMD_DIR") SYSTEMD_ROOT=${SYSTEMD_DIR%"$DEFAULT_SYSTEMD_DIR"} ;;
	*) die "--systemd-dir must end in $DEFAULT_SYSTEMD_DIR (an image's root), got '$SYSTEMD_DIR'" ;;
	esac
	case "$TLS" in
	'' | on | off) ;;
	*) die "--tls takes on or off, got '$TLS'" ;;
	esac
	if [ -n "$CA" ]; then
		case "$CA" in
		/*) ;;
		*) CA="$(pwd)/$CA" ;;
		esac
	fi
	CONFIG_FILE="$CONFIG_DIR/agent.json"
	if [ "$UNINSTALL" = yes ]; then
		uninstall_agent
	else
		install_agent
	fi
}

# stdin from /dev/null: with `curl ... | sh`, the script itself is stdin, and nothing it runs
# may read from it.
main "$@" </dev/null
