# Mail fetching from remote mailboxes (nethserver-mail-getmail).

package nethserver-mail-getmail {
    # getmail's record of the messages already fetched: without it a promoted host
    # fetches every message again.
    include /var/lib/getmail/
    owner vmail:vmail /var/lib/getmail/
}
