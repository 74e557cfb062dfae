/* A stand-in for Cockpit's cockpit.js, for the browser test: only cockpit.spawn, forwarded to
 * the test server, which runs the API executable of its sandbox root and answers with its exit
 * status and output. Same calling convention as Cockpit's: input(data[, stream]) sends stdin
 * (closing it unless stream is true), done(output) on exit 0, fail(problem, output) otherwise. */
window.cockpit = {
    spawn: function (args, options) {
        var chunks = [], onDone = [], onFail = [], result = null, sent = false;
        function settle() {
            if (!result) { return; }
            if (result.exit_status === 0) { onDone.splice(0).forEach(function (f) { f(result.stdout); }); }
            else {
                var problem = { problem: null, exit_status: result.exit_status, message: result.stderr };
                onFail.splice(0).forEach(function (f) { f(problem, result.stdout); });
            }
        }
        function send() {
            if (sent) { return; }
            sent = true;
            fetch("/spawn", { method: "POST", body: JSON.stringify({ args: args, input: chunks.join("") }) })
                .then(function (response) { return response.json(); })
                .then(function (answer) { result = answer; settle(); });
        }
        var process = {
            input: function (data, stream) { if (data) { chunks.push(data); } if (!stream) { send(); } return process; },
            done: function (f) { onDone.push(f); settle(); return process; },
            fail: function (f) { onFail.push(f); settle(); return process; },
            close: function () { send(); return process; }
        };
        return process;
    }
};
