# expect: 3:5: error: cron minute field '５' is malformed
role master {
    schedule sync "５ * * * *"
}
