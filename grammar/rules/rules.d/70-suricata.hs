# The IPS (nethserver-suricata, which brings the suricata package): its configuration and
# rules come through the list files and nethserver-pulledpork's rule; suricata must own them
# to reload them.

package nethserver-suricata {
    owner suricata:suricata recursive /etc/suricata/
}
