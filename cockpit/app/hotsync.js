/* HotSync's Cockpit page: three views over the API under /usr/libexec/nethserver/api/nethserver-hotsync/.
 * Everything it shows comes from an API answer; the password is never asked for nor shown. */
(function () {
    "use strict";

    var API = "/usr/libexec/nethserver/api/nethserver-hotsync/";
    var POLL_MILLISECONDS = 2000;
    var FIELDS = ["status", "role", "slaveHost", "masterHost", "databases", "tunnelAuth", "password"];

    function $(id) { return document.getElementById(id); }

    function setText(id, text) { $(id).textContent = text; }

    function fillList(id, items) {
        var list = $(id);
        list.textContent = "";
        items.forEach(function (item) {
            var entry = document.createElement("li");
            entry.textContent = item;
            list.appendChild(entry);
        });
    }

    /* One API call, as NethServer's nethserver.exec makes it: sudo, the JSON request on stdin.
     * Resolves with the answer; rejects with the answer (NotValid, Error) or a made-up Error. */
    function call(name, request) {
        return new Promise(function (resolve, reject) {
            var process = cockpit.spawn(["/usr/bin/sudo", API + name], { err: "message" });
            process.input(JSON.stringify(request || {}));
            process.done(function (output) {
                try { resolve(JSON.parse(output)); } catch (e) { reject({ type: "Error", message: name + ": not JSON" }); }
            });
            process.fail(function (problem, output) {
                var answer = null;
                try { answer = JSON.parse(output); } catch (e) { answer = null; }
                reject(answer && answer.type ? answer : { type: "Error", message: name + ": " + (problem.message || problem) });
            });
        });
    }

    function showAlert(text, info) {
        var alert = $("alert");
        alert.textContent = text;
        alert.className = info ? "hs-alert hs-info" : "hs-alert";
        alert.hidden = !text;
    }

    /* ---------------------------------------------------------------- dashboard */

    function describePeer(peer) {
        var names = Object.keys(peer || {});
        if (!names.length) { return "none"; }
        return names.map(function (kind) { return kind + " " + (peer[kind] || "(not set)"); }).join(", ");
    }

    function describeNextRun(runs) {
        var jobs = Object.keys(runs || {});
        if (!jobs.length) { return "not scheduled"; }
        return jobs.map(function (job) { return job + ": " + (runs[job] || "unreadable schedule"); }).join(", ");
    }

    function describeFreshness(freshness, role) {
        var state = freshness.state;
        if (state === "unknown") { return role ? "no complete copy yet" : ""; }
        var words = { ok: "fresh", warning: "late", critical: "stale" }[state] || state;
        return words + " (late after " + Math.round(freshness.warning_after_seconds / 60) + " min, stale after " +
            Math.round(freshness.critical_after_seconds / 60) + " min)";
    }

    function showDashboard(report) {
        if (!report.configured) {
            setText("role", "none");
            setText("peer", report.problem || "");
        } else {
            setText("role", (report.role || "none") + (report.enabled ? "" : " (disabled)"));
            setText("peer", describePeer(report.peer));
        }
        var freshness = report.freshness || { state: "unknown" };
        var age = $("data-age");
        age.textContent = report.age_seconds === null || report.age_seconds === undefined ? "never" : report.age_words + " old";
        age.className = "hs-age fresh-" + freshness.state;
        setText("freshness", describeFreshness(freshness, report.role));
        setText("last-success", report.last_success || "never");
        setText("last-result", (report.last_run || "never") + (report.last_result ? " (" + report.last_result + ")" : ""));
        var problems = (report.last_errors || []).concat((report.last_warnings || []).map(function (w) { return "warning: " + w; }));
        fillList("last-errors", problems.length ? problems : ["none"]);
        setText("next-run", describeNextRun(report.next_runs));
        var readiness = report.readiness || { known: false, reasons: [] };
        setText("readiness", !readiness.known ? "not checked" : (readiness.ready ? "yes" : "no"));
        // each check with its verdict when the API gives them, else the reasons alone
        fillList("readiness-reasons", (readiness.checks || []).length ? readiness.checks.map(function (check) {
            return (check.ok ? "ok: " : "blocks: ") + check.detail;
        }) : (readiness.reasons || []));
        var tunnel = report.tunnel || {};
        setText("tunnel", tunnel.auth ? tunnel.auth + (tunnel.chosen_by ? " (" + tunnel.chosen_by + ")" : "") : "none");
        var daemons = report.daemons || {};
        setText("daemons", Object.keys(daemons).map(function (name) {
            return name + " " + (daemons[name] === null ? "unknown" : (daemons[name] ? "running" : "stopped"));
        }).join(", "));
        var points = report.restore_points || [];
        Array.prototype.forEach.call(document.querySelectorAll(".hs-restore"), function (item) { item.hidden = !points.length; });
        fillList("restore-points", points.map(function (point) { return typeof point === "string" ? point : JSON.stringify(point); }));
        $("sync-now").hidden = report.role !== "master";
        $("install-packages").hidden = report.role !== "slave";
        return report;
    }

    function loadDashboard() {
        return call("dashboard/read").then(showDashboard, function (answer) { showAlert(answer.message); });
    }

    var running = null;  // the action whose job the page follows

    function follow(action, startedAt) {
        running = action;
        $("progress").hidden = false;
        $("sync-now").disabled = $("install-packages").disabled = true;
        function poll() {
            call("dashboard/read").then(function (report) {
                var seconds = Math.round((Date.now() - startedAt) / 1000);
                if (report.jobs && report.jobs[action]) {
                    setText("progress-text", action + " running for " + seconds + " s…");
                    setTimeout(poll, POLL_MILLISECONDS);
                    return;
                }
                running = null;
                $("progress").hidden = true;
                $("sync-now").disabled = $("install-packages").disabled = false;
                showDashboard(report);
                showAlert(action + " finished after " + seconds + " s: " + (report.last_result || "see the log"), report.last_result === "ok");
            }, function (answer) { showAlert(answer.message); setTimeout(poll, POLL_MILLISECONDS); });
        }
        setText("progress-text", action + " starting…");
        poll();
    }

    function execute(action) {
        if (running) { return; }
        showAlert("");
        call("settings/execute", { action: action }).then(function () {
            follow(action, Date.now());
        }, function (answer) {
            var detail = answer.attributes ? answer.attributes.map(function (a) { return a.error; }).join("; ") : answer.message;
            showAlert(detail);
        });
    }

    /* ---------------------------------------------------------------- settings */

    var passwordSet = false;

    function showRoleFields() {
        var role = $("field-role").value;
        Array.prototype.forEach.call(document.querySelectorAll(".hs-master"), function (item) { item.hidden = role !== "master"; });
        Array.prototype.forEach.call(document.querySelectorAll(".hs-slave"), function (item) { item.hidden = role !== "slave"; });
    }

    function loadSettings() {
        return call("settings/read").then(function (answer) {
            var configuration = answer.configuration;
            FIELDS.forEach(function (name) {
                if (name !== "password") { $("field-" + name).value = configuration[name] || ""; }
            });
            passwordSet = configuration.passwordSet;
            $("field-password").value = "";
            $("field-password").placeholder = passwordSet ? "set (leave empty to keep it)" : "not set";
            showRoleFields();
        }, function (answer) { showAlert(answer.message); });
    }

    function formValues() {
        var configuration = {};
        FIELDS.forEach(function (name) {
            var field = $("field-" + name);
            if (name === "password" && !field.value) { return; }  // empty: keep the stored one
            if (field.hidden) { return; }                         // the other role's host: left as stored
            configuration[name] = field.value;
        });
        return { action: "configuration", configuration: configuration };
    }

    function clearErrors() {
        FIELDS.forEach(function (name) { setText("error-" + name, ""); });
        fillList("settings-problems", []);
        setText("settings-message", "");
    }

    function showProblems(answer) {
        if (answer.type !== "NotValid") { showAlert(answer.message); return; }
        var elsewhere = [];
        answer.attributes.forEach(function (attribute) {
            var beside = $("error-" + attribute.parameter);
            if (beside && !beside.hidden) {
                beside.textContent = beside.textContent ? beside.textContent + "; " + attribute.error : attribute.error;
            }
            else { elsewhere.push(attribute.parameter + ": " + attribute.error); }
        });
        fillList("settings-problems", elsewhere);
    }

    function save(event) {
        event.preventDefault();
        clearErrors();
        showAlert("");
        var request = formValues();
        setText("settings-message", "checking…");
        call("settings/validate", request).then(function () {
            setText("settings-message", "saving…");
            return call("settings/update", request).then(function () {
                setText("settings-message", "saved");
                return loadSettings();
            });
        }).catch(function (answer) { setText("settings-message", ""); showProblems(answer); });
    }

    /* ---------------------------------------------------------------- logs */

    function loadLog() {
        return call("logs/read", { lines: parseInt($("log-lines").value, 10) }).then(function (answer) {
            setText("log-path", answer.path);
            setText("log", answer.lines.length ? answer.lines.join("\n") : "(the log is empty)");
        }, function (answer) { showAlert(answer.message); });
    }

    /* ---------------------------------------------------------------- views */

    var VIEWS = { dashboard: loadDashboard, settings: loadSettings, logs: loadLog };

    function showView() {
        var name = (window.location.hash || "#dashboard").slice(1);
        if (!VIEWS[name]) { name = "dashboard"; }
        Object.keys(VIEWS).forEach(function (view) {
            $("view-" + view).hidden = view !== name;
            $("tab-" + view).className = view === name ? "active" : "";
        });
        showAlert("");
        VIEWS[name]();
    }

    document.addEventListener("DOMContentLoaded", function () {
        $("sync-now").addEventListener("click", function () { execute("sync"); });
        $("install-packages").addEventListener("click", function () { execute("install-packages"); });
        $("field-role").addEventListener("change", showRoleFields);
        $("settings-form").addEventListener("submit", save);
        $("log-refresh").addEventListener("click", loadLog);
        $("log-lines").addEventListener("change", loadLog);
        window.addEventListener("hashchange", showView);
        showView();
    });
}());
