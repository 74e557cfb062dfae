# DHCP and DNS (nethserver-dnsmasq).

package nethserver-dnsmasq {
    # The leases: a promoted host hands out the same addresses instead of new ones.
    include /var/lib/dnsmasq/dnsmasq.leases
}
