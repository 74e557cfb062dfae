# VPN (nethserver-openvpn): tunnel data through the package's own list file in
# /etc/backup-data.d/; the slave restores their owner.

package nethserver-openvpn {
    owner srvmgr:adm recursive /var/lib/nethserver/openvpn-tunnels/
}
