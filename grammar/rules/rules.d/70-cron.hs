# The periodic jobs of the master, so a promoted host runs the same ones.
#
# On the slave they must not run (they would act on data the master owns): slave upkeep
# makes them non-executable and promotion makes them executable again. The language has
# no statement for file modes, so those two steps are the runtime's own.

rule cron {
    when exists /etc/cron.hourly include /etc/cron.hourly
    when exists /etc/cron.daily include /etc/cron.daily
    when exists /etc/cron.weekly include /etc/cron.weekly
    when exists /etc/cron.monthly include /etc/cron.monthly
}
