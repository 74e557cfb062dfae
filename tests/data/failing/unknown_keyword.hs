# expect: 5:5: error: unknown keyword 'inclde' (did you mean 'include'?)
rule web {
    include /var/www/
    # a typo in a statement keyword
    inclde /etc/httpd/
}
