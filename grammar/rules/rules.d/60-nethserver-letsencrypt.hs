# Let's Encrypt certificates (nethserver-letsencrypt).
#
# The certificates are covered by the package's own list file in /etc/backup-data.d/; the
# reference gives no further path, so this rule adds none. After promotion, renewal works
# only once the public name points at the promoted host.

package nethserver-letsencrypt {
}
