package crienv

// nodeE2EImages are the images Kubernetes' node e2e suite (test/e2e_node
// and the test/e2e/common tests it runs) pulls, under their upstream names
// (test/utils/image/manifest.go of v1.34), built from Debian's busybox. The
// "agnhost" program is k8s.io/kubernetes/test/images/agnhost, built from
// Kubernetes' own source (Config.Agnhost), with its test certificate and
// key (localhost.crt, localhost.key) beside it.
var nodeE2EImages = []image{
	{refs: []string{e2e + "agnhost:2.56"}, entrypoint: []string{"/agnhost"}, cmd: []string{"pause"},
		files: map[string]imageFile{
			"agnhost":   {program: "agnhost", mode: 0o755},
			"agnhost-2": {program: "agnhost", mode: 0o755},
			// The Dockerfile's porter/localhost.crt and .key, for HTTPS.
			"localhost.crt": {program: "agnhost-crt", mode: 0o644},
			"localhost.key": {program: "agnhost-key", mode: 0o644},
			"uploads/.keep": {mode: 0o644},
			// The suite's hooks run curl in agnhost (its Dockerfile
			// installs it); busybox's wget stands in.
			"usr/bin/curl": {mode: 0o755, text: `#!/bin/sh
# curl [OPTION...] URL: prints the body at URL (a stand-in for curl, with
# busybox's wget; options are ignored).
url=
for a in "$@"; do case $a in -*) ;; *) url=$a ;; esac; done
exec wget -q -O - "$url"
`},
			// The Dockerfile's adduser and addgroup.
			"etc/passwd": {mode: 0o644, text: "root:x:0:0:root:/root:/bin/sh\n" +
				"user-defined-in-image:x:1000:1000:Linux User,,,:/home/user-defined-in-image:/bin/sh\n" +
				"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"},
			"etc/group": {mode: 0o644, text: "root:x:0:\nuser-defined-in-image:x:1000:\n" +
				"group-defined-in-image:x:50000:user-defined-in-image\nnogroup:x:65534:\n"},
		}},
	{refs: []string{e2e + "busybox:1.37.0-1", e2e + "busybox:1.36.1-1"}, cmd: []string{"sh"}},
	{refs: []string{e2e + "nginx:1.14-4", e2e + "nginx:1.15-4"}, files: nginx, cmd: []string{"nginx", "-g", "daemon off;"}},
	{refs: []string{e2e + "httpd:2.4.38-4"}, files: httpd, cmd: []string{"httpd-foreground"}},
	{refs: []string{e2e + "nonroot:1.4"}, user: "1234"},
}
