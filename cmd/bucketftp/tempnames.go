package main

import (
	"fmt"
	"strings"

	"github.com/bucketftp/bucketftp/ftp"
)

// tempNamePatterns is --temp-name-patterns as a list; empty (not nil)
// when there are none, which turns holding off.
func (c *config) tempNamePatterns() []string {
	ps := []string{}
	for p := range strings.SplitSeq(c.TempNamePatterns, ",") {
		if p = strings.TrimSpace(p); p != "" {
			ps = append(ps, p)
		}
	}
	return ps
}

func (c *config) tempNameProblems() []error {
	var errs []error
	for _, p := range c.tempNamePatterns() {
		if !ftp.ValidTempNamePattern(p) {
			errs = append(errs, fmt.Errorf("--temp-name-patterns %q: each pattern is a file name with one \"*\" for the final name, like .in.* or *.part", p))
		}
	}
	if c.TempNameHold <= 0 {
		errs = append(errs, fmt.Errorf("--temp-name-hold %v: must be positive", c.TempNameHold))
	}
	return errs
}
