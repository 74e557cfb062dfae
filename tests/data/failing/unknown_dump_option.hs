# expect: 3:61: error: unknown dump option 'prot' (did you mean 'port'?); options: host, port, socket, user, defaults_file, run_as, collection
package nethserver-mattermost {
    dump postgresql mattermost into /var/lib/mattermost.sql prot = 55434
}
