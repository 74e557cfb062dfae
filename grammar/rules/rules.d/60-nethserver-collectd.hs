# Statistics (nethserver-collectd): the collected history, so the graphs go on after promotion.

package nethserver-collectd {
    include /var/lib/collectd
}
