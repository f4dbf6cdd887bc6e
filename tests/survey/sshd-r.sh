#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Survey reproducer: sshd -D -r (no re-exec: the forked child serves the
# accepted socket itself) under the library in guest b, a plain ssh from
# guest a. The command runs (rc 3), plainly and with the library on sshd,
# whose sandboxed preauth child the library lets go of before its seccomp
# filter goes in (without that, its write(2) became a sendmsg(2), which the
# filter killed: SIGSYS, rc 255, dmesg: audit type=1326 syscall=46).
# MODE=plain runs sshd plainly;
# SSHD_WRAP="strace -f -k -o FILE" shows the call.
# By hand, as root; needs openssh-server.
set -uo pipefail
XL_TOP_SRCDIR=${XL_TOP_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
. "$XL_TOP_SRCDIR/tests/e2e/data-lib.sh"
set +e
unset XENLOOP_REGISTER_DELAY_US
xl_require_cmd /usr/sbin/sshd ssh
xl_data_setup
K=$XL_RUNDIR/keys
mkdir -p "$K" /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$K/id"
ssh-keygen -q -t ed25519 -N '' -f "$K/host"
cp "$K/id.pub" "$K/auth"
if [ "${MODE:-shim}" = plain ]; then
	XL_ARGV=(ip netns exec "$XL_NS_B")
else
	xl_shim_argv "$XL_NS_B" tool
fi
xl_bg timeout 60 "${XL_ARGV[@]}" ${SSHD_WRAP:-} /usr/sbin/sshd -D -e -r ${SSHD_OPTS:-} \
	-p 7009 -o ListenAddress=$XL_ADDR_B -h "$K/host" \
	-o AuthorizedKeysFile="$K/auth" -o StrictModes=no -o UsePAM=no \
	-o PasswordAuthentication=no -o PidFile=none
xl_wait_for 10 sh -c "ip netns exec $XL_NS_B ss -Hltn 'sport = :7009' | grep -q ."
timeout 30 ip netns exec "$XL_NS_A" ssh ${SSH_OPTS:-} -i "$K/id" -p 7009 \
	-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
	-o BatchMode=yes root@$XL_ADDR_B 'echo hi; exit 3'
echo "ssh rc=$?"
