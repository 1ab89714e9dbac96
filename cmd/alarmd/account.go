package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"

	"strings"
	"time"

	"github.com/anxin-care/anxin/alarmd"
	"github.com/anxin-care/anxin/web"
)

// accountMain is `alarmd account`: creates or replaces a web app account in
// the store of the config. The password is read from the first line of
// stdin (never a flag: flags show in ps and shell history).
func accountMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("alarmd account", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (YAML); its store.path is written")
	login := fs.String("login", "", "sign-in name (letters, digits, _.@-)")
	name := fs.String("name", "", "the person's name, recorded as the visitor")
	area := fs.String("area", "", `area: 善广村, 屏山街道/善广村 or 屏山街道/*; empty: the whole district`)
	role := fs.String("role", web.RoleWorker, "worker, operator or admin")
	cfg, code := parseAndLoad(fs, args, path, stderr)
	if cfg == nil {
		return code
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(stderr, "alarmd account: give the password on stdin")
		return 2
	}
	ctx := context.Background()
	db, err := alarmd.OpenStore(ctx, cfg.Store)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer db.Close()
	if err := web.PutAccount(ctx, db, *login, *name, *area, *role, strings.TrimRight(line, "\r\n"), time.Now()); err != nil {
		fmt.Fprintln(stderr, "alarmd account:", err)
		return 2
	}
	fmt.Fprintf(stdout, "account %s (%s, %s) saved\n", *login, *role, areaName(*area))
	return 0
}

func areaName(a string) string {
	if a == "" {
		return "whole district"
	}
	return a
}
