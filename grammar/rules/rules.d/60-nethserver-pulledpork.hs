# IPS rule downloader (nethserver-pulledpork).

package nethserver-pulledpork {
    # The downloaded rule set, so the promoted host's IPS starts with the same rules.
    include /etc/suricata/rules
}
