# expect: 3:5: error: cron minute 61 is out of range 0-59
role master {
    schedule sync "61 * * * *"
}
