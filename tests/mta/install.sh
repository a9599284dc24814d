#!/bin/sh
# Install Postfix and Dovecot from Debian for tests/mta.rs, only when missing.
# Nothing is enabled or started here: the test runs its own instances with private config
# directories, and Debian's postinst must not leave a system-wide daemon listening on port 25.
set -eu
need=""
command -v postfix >/dev/null 2>&1 && [ -x /usr/sbin/postfix ] || need="$need postfix"
[ -x /usr/sbin/dovecot ] || need="$need dovecot-core"
[ -e /usr/lib/dovecot/imap ] || need="$need dovecot-imapd"
[ -e /usr/lib/dovecot/lmtp ] || need="$need dovecot-lmtpd"
if [ -z "$need" ]; then
    echo "mta: postfix and dovecot already installed"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "mta: missing packages:$need, and not root to install them" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
# Without systemd (containers) invoke-rc.d would start the daemons: policy-rc.d forbids it.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    made_policy=1
fi
cleanup() { if [ "$made_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT
# A stale package list makes the install 404: refresh it when older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -n 1)" ]; then
    apt-get update -qq
fi
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $need >/dev/null
echo "mta: installed$need"
