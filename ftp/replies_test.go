package ftp

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestFailureRepliesInOnePlace fails when a 4xx/5xx reply is written
// anywhere but errmap.go and reply.go: handlers refuse by returning
// refuse(code, text), which replyError writes. A reply whose code is not a
// constant counts as a failure reply too, outside those files.
func TestFailureRepliesInOnePlace(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	parsed := map[string]*ast.File{}
	codes := map[string]int{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed[name] = f
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.INT {
							codes[n.Name], _ = strconv.Atoi(lit.Value)
						}
					}
				}
			}
		}
	}
	if codes["codeActionNotTaken"] != 550 || codes["codeOK"] != 200 {
		t.Fatalf("reply code constants not found: %v", codes)
	}
	checked := 0
	for name, f := range parsed {
		if name == "errmap.go" || name == "reply.go" {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			var fn string
			switch f := call.Fun.(type) {
			case *ast.SelectorExpr:
				fn = f.Sel.Name
			case *ast.Ident:
				fn = f.Name
			}
			if fn != "reply" && fn != "formatReply" {
				return true
			}
			checked++
			code := -1
			switch a := call.Args[0].(type) {
			case *ast.Ident:
				if c, ok := codes[a.Name]; ok {
					code = c
				}
			case *ast.BasicLit:
				code, _ = strconv.Atoi(a.Value)
			}
			if code < 0 || code >= 400 {
				t.Errorf("%s: %s writes a failure reply (or one whose code is not a constant); return refuse(code, text) instead",
					fset.Position(call.Pos()), fn)
			}
			return true
		})
	}
	if checked < 30 {
		t.Fatalf("only %d reply calls found: the check looks at the wrong code", checked)
	}
}
