#!/usr/bin/env node
/** The `opendit` executable (dist/cli/main.js): runs the CLI against the real process and sets its exit code. */
import { runCli } from "./program.js";

// A reader that stops early (`opendit validate | head`) closes the pipe; that is not opendit's failure.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
  });
}

void runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  isTTY: process.stdout.isTTY === true,
  env: process.env,
  cwd: process.cwd(),
}).then((exitCode) => {
  process.exitCode = exitCode;
});
