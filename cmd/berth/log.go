package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli"
)

// logToFile is true when --log names a file: errors then go both to it (for
// callers such as containerd's go-runc, which read the last error entry)
// and, as one plain line, to stderr.
var logToFile bool

func configureLogging(c *cli.Context) error {
	if c.GlobalBool("debug") {
		logrus.SetLevel(logrus.DebugLevel)
	}
	switch f := c.GlobalString("log-format"); f {
	case "", "text":
	case "json":
		logrus.SetFormatter(new(logrus.JSONFormatter))
	default:
		return fmt.Errorf("--log-format: %q is not a log format (use text or json)", f)
	}
	if path := c.GlobalString("log"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_SYNC, 0o644)
		if err != nil {
			return fmt.Errorf("--log: %w", err)
		}
		logrus.SetOutput(f)
		logToFile = true
	}
	return nil
}

// fatal reports err and exits 1: one line on stderr, and an error entry in
// the log when --log or --log-format json asks for one.
func fatal(err error) { fatalWithCode(err, 1) }

// fatalWithCode is fatal with another exit code.
func fatalWithCode(err error, code int) {
	msg := strings.TrimSpace(err.Error())
	if logToFile || isJSONLog() {
		logrus.Error(msg)
	}
	if !(isJSONLog() && !logToFile) {
		fmt.Fprintln(os.Stderr, "berth: "+msg)
	}
	os.Exit(code)
}

func isJSONLog() bool {
	_, ok := logrus.StandardLogger().Formatter.(*logrus.JSONFormatter)
	return ok
}

// logWriter receives urfave/cli's own error output (bad flags, unknown
// commands) and passes it to fatal's channels.
type logWriter struct{}

func (logWriter) Write(p []byte) (int, error) {
	if logToFile {
		logrus.Error(strings.TrimSpace(string(p)))
	}
	return os.Stderr.Write(p)
}
