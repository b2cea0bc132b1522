// Command webserver stands in for the nginx and httpd images of the CRI
// validation suite: it serves HTTP (200 on every path) on $WEB_PORT (80 by
// default) and logs a line naming itself. Installed as nginx, it looks as
// nginx does to the suite: it re-executes itself so that its command line
// reads "nginx: master process ..." and writes /var/run/nginx.pid.
package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

const nginxTitle = "nginx: master process nginx -g daemon off;"

func main() {
	name := filepath.Base(os.Args[0])
	if name == "nginx" {
		// A process title as nginx sets it: exec again with it as argv.
		exe, err := os.Executable()
		if err == nil {
			err = syscall.Exec(exe, []string{nginxTitle}, os.Environ())
		}
		fmt.Fprintln(os.Stderr, "nginx: re-exec:", err)
		os.Exit(1)
	}
	if strings.HasPrefix(os.Args[0], "nginx:") {
		name = "nginx"
		if err := os.WriteFile("/var/run/nginx.pid", []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "nginx: pid file:", err)
		}
	}
	port := os.Getenv("WEB_PORT")
	if port == "" {
		port = "80"
	}
	fmt.Printf("%s: serving HTTP on :%s\n", name, port)
	err := http.ListenAndServe(":"+port, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "<html><body>%s test page</body></html>\n", name)
	}))
	fmt.Fprintln(os.Stderr, name+":", err)
	os.Exit(1)
}
