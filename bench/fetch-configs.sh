#!/usr/bin/env bash
# Configuration files from Debian packages this machine does not install, for minify's
# `debconf` probe genre (bench/minify_eval.py): files no tuning has read, unlike the
# `config` genre's /etc. Each package in PACKAGES below (servers, daemons and tools known
# to ship commented configs; fixed before any was read) is downloaded and unpacked, and
# its etc/** and usr/share/doc/*/examples/** files are kept (gzipped ones unzipped).
#   bench/fetch-configs.sh DIR      -> DIR/debian-configs/PACKAGE/{etc,usr}/...
# Idempotent: skipped when DIR/debian-configs is there. A package missing from the
# archive is skipped (listed on stderr).
set -euo pipefail
out=${1:?usage: fetch-configs.sh DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
[[ -d $out/debian-configs ]] && exit 0
PACKAGES=(
  nginx-common apache2 lighttpd haproxy varnish squid privoxy tinyproxy
  postfix exim4-config dovecot-core fetchmail procmail msmtp opendkim postgrey
  spamassassin clamav-freshclam amavisd-new mutt neomutt
  bind9 unbound dnsmasq nsd knot isc-dhcp-server kea-dhcp4-server radvd
  chrony ntpsec openntpd rsyslog syslog-ng-core logrotate anacron
  samba-common nfs-kernel-server autofs vsftpd proftpd-core tftpd-hpa rsync
  openvpn strongswan-starter wireguard-tools ppp xl2tpd hostapd wpasupplicant
  fail2ban ufw nftables shorewall firewalld keepalived conntrackd
  smartmontools lm-sensors nut-server apcupsd acpid irqbalance tlp mdadm lvm2
  cryptsetup-initramfs open-iscsi multipath-tools
  cups-daemon avahi-daemon snmpd monit supervisor collectd-core munin-node
  zabbix-agent icinga2-common mosquitto redis-server memcached
  mariadb-server postgresql-common slapd sssd-common krb5-kdc freeradius-config
  tor openssh-server xinetd lxc libvirt-daemon-system apt-cacher-ng
  zsh-common tmux screen vim-common nano uwsgi-core php8.2-common
  puppet-agent salt-common ansible-core bird2 frr quagga-core
  dhcpcd-base ifupdown resolvconf inetutils-inetd sane-utils mpd icecast2
  prosody ejabberd ircd-hybrid znc bitlbee minidlna transmission-daemon
  nagios-nrpe-server pdns-server pdns-recursor opensmtpd courier-imap cyrus-imapd
)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
lists=$work/lists
mkdir -p "$lists/partial" "$work/debs"
apt_opts=(-o "Dir::State::Lists=$lists" -o "Acquire::Languages=en" -o "APT::Sandbox::User=root" -qq)
apt-get "${apt_opts[@]}" update >/dev/null
for package in "${PACKAGES[@]}"; do
  (cd "$work/debs" && apt-get "${apt_opts[@]}" download "$package" >/dev/null 2>&1) \
    || { echo "fetch-configs: $package: not in the archive, skipped" >&2; continue; }
done
for deb in "$work"/debs/*.deb; do
  package=$(basename "$deb"); package=${package%%_*}
  rm -rf "$work/x" && dpkg-deb -x "$deb" "$work/x"
  (cd "$work/x" && find etc usr/share/doc/*/examples -type f 2>/dev/null || true) | while read -r f; do
    dest=$work/debian-configs/$package/${f%.gz}
    mkdir -p "$(dirname "$dest")"
    if [[ $f == *.gz ]]; then gunzip -c "$work/x/$f" >"$dest" || rm -f "$dest"; else cp "$work/x/$f" "$dest"; fi
  done
done
mv "$work/debian-configs" "$out/debian-configs"
echo "configuration files in $out/debian-configs: $(find "$out/debian-configs" -type f | wc -l) files of $(ls "$out/debian-configs" | wc -l) packages"
