// Command bucketftp is an FTP server whose files live in object storage or a
// local directory.
//
//	bucketftp serve [flags]      run the server (see docs/configuration.md)
//	bucketftp hash-password      read a password on stdin, print its argon2id hash
//	bucketftp version            print the version
//	bucketftp config-doc         print the configuration reference (Markdown)
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/bucketftp/bucketftp/auth"
	"github.com/bucketftp/bucketftp/ftp/tlscert"
	"github.com/bucketftp/bucketftp/storage/s3store"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

const usage = `Usage:
  bucketftp serve [flags]    run the FTP server ("bucketftp serve -h" lists the flags)
  bucketftp hash-password    read one password line on stdin, print its argon2id hash
  bucketftp version          print the version
  bucketftp gen-cert --cert F --key F [--host H,...]
                             write a self-signed certificate and key (tests, demos)
  bucketftp mkbucket [--wait 60s] s3://BUCKET?...
                             create the bucket unless it exists, waiting for the store
  bucketftp config-doc       print the configuration reference in Markdown
`

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		cfg, err := loadConfig(args[1:], getenv, stderr)
		if errors.Is(err, errHelp) {
			return 0
		}
		if err != nil {
			printError(stderr, err)
			return 2
		}
		if err := serve(ctx, cfg, getenv, stderr); err != nil {
			printError(stderr, err)
			return 1
		}
		return 0
	case "hash-password":
		return hashPassword(stdin, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "bucketftp", versionString())
		return 0
	case "mkbucket":
		return mkbucket(ctx, args[1:], stderr)
	case "gen-cert":
		return genCert(args[1:], stdout, stderr)
	case "config-doc":
		fmt.Fprint(stdout, configMarkdown())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "bucketftp: unknown command %q\n%s", args[0], usage)
		return 2
	}
}

// printError writes err to stderr, one "bucketftp: " line per line of it:
// a config with several problems reports each on its own line.
func printError(stderr io.Writer, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintln(stderr, "bucketftp:", line)
	}
}

func hashPassword(stdin io.Reader, stdout, stderr io.Writer) int {
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		fmt.Fprintln(stderr, "bucketftp: hash-password reads one password line on stdin")
		return 2
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		fmt.Fprintln(stderr, "bucketftp: empty password")
		return 2
	}
	h, err := auth.HashPassword(pw)
	if err != nil {
		fmt.Fprintln(stderr, "bucketftp:", err)
		return 1
	}
	fmt.Fprintln(stdout, h)
	return 0
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func genCert(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gen-cert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	certFile := fs.String("cert", "cert.pem", "certificate file to write")
	keyFile := fs.String("key", "key.pem", "private key file to write")
	hosts := fs.String("host", "localhost,127.0.0.1", "comma-separated names and addresses the certificate is for")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	certPEM, keyPEM, err := tlscert.SelfSigned(strings.Split(*hosts, ",")...)
	if err == nil {
		err = os.WriteFile(*certFile, certPEM, 0o644)
	}
	if err == nil {
		err = os.WriteFile(*keyFile, keyPEM, 0o600)
	}
	if err != nil {
		fmt.Fprintln(stderr, "bucketftp:", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s and %s (self-signed, for %s)\n", *certFile, *keyFile, *hosts)
	return 0
}

// mkbucket is a one-shot setup step: create the bucket of an s3:// storage
// URL unless it exists, waiting for the store to come up.
func mkbucket(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("mkbucket", flag.ContinueOnError)
	fs.SetOutput(stderr)
	wait := fs.Duration("wait", time.Minute, "how long to wait for the store")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: bucketftp mkbucket [--wait 60s] s3://BUCKET?endpoint=...")
		return 2
	}
	cfg, err := s3store.ParseURL(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "bucketftp:", err)
		return 2
	}
	cfg.StaleUploadAge = -1
	log := slog.New(slog.NewTextHandler(stderr, nil))
	s, err := s3store.New(ctx, cfg, log)
	if err == nil {
		defer s.Close()
		err = s.EnsureBucket(ctx, *wait)
	}
	if err != nil {
		fmt.Fprintln(stderr, "bucketftp:", err)
		return 1
	}
	log.Info("bucket ready", "bucket", cfg.Bucket)
	return 0
}
