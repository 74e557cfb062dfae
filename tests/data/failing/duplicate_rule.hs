# expect: 5:9: error: package 'nethserver-ibays' is already declared at {FILE}:2:9
package nethserver-ibays {
    include /var/lib/nethserver/ibay/
}
package nethserver-ibays {
    include /var/lib/nethserver/ibay/
}
