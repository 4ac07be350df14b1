package fileroots

import (
	"errors"
	"reflect"
	"testing"
)

func TestPath(t *testing.T) {
	for _, tc := range []struct {
		uri     string
		want    string
		ok      bool
		wantErr bool
	}{
		{uri: "file:///var/lib/indexbuild/t", want: "/var/lib/indexbuild/t", ok: true},
		{uri: "file:///var/lib/indexbuild/../../../etc/x", want: "/etc/x", ok: true},
		{uri: "file:///var/lib/%2e%2e/etc", want: "/var/etc", ok: true},
		{uri: "file://localhost/data/x/", want: "/data/x", ok: true},
		{uri: "file://etc/x", ok: true, wantErr: true},
		{uri: "file:relative/x", ok: true, wantErr: true},
		{uri: "s3://bucket/x", ok: false},
	} {
		got, ok, err := Path(tc.uri)
		if got != tc.want || ok != tc.ok || (err != nil) != tc.wantErr {
			t.Errorf("Path(%q) = %q, %v, %v; want %q, %v, error %v", tc.uri, got, ok, err, tc.want, tc.ok, tc.wantErr)
		}
	}
}

func TestCheck(t *testing.T) {
	roots := []string{"/var/lib/indexbuild", "/data/"}
	for _, tc := range []struct {
		path    string
		roots   []string
		allowed bool
	}{
		{"/var/lib/indexbuild", roots, true},
		{"/var/lib/indexbuild/e2e/out", roots, true},
		{"/data/x", roots, true},
		{"/database", roots, false},
		{"/var/lib/indexbuild-other", roots, false},
		{"/etc/x", roots, false},
		{"/var/lib", roots, false},
		{"/anything", nil, false},
		{"/anything", []string{"/"}, true},
		{"/x", []string{"relative"}, false},
	} {
		err := Check(tc.path, tc.roots)
		if (err == nil) != tc.allowed {
			t.Errorf("Check(%q, %q) = %v, want allowed=%v", tc.path, tc.roots, err, tc.allowed)
		}
		if err != nil && !errors.Is(err, ErrNotAllowed) {
			t.Errorf("Check(%q) error %v does not wrap ErrNotAllowed", tc.path, err)
		}
	}
}

func TestParse(t *testing.T) {
	got, err := Parse(" /var/lib/indexbuild/ ,,/data")
	if err != nil || !reflect.DeepEqual(got, []string{"/var/lib/indexbuild", "/data"}) {
		t.Errorf("Parse = %q, %v", got, err)
	}
	if got, err := Parse(""); err != nil || got != nil {
		t.Errorf("Parse(\"\") = %q, %v; want none", got, err)
	}
	if _, err := Parse("/ok,relative"); err == nil {
		t.Error("Parse accepted a relative root")
	}
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		path, root, sub string
		roots           []string
		allowed         bool
	}{
		{path: "/var/lib/indexbuild/e2e/out", roots: []string{"/var/lib/indexbuild"}, root: "/var/lib/indexbuild", sub: "e2e/out", allowed: true},
		{path: "/var/lib/indexbuild", roots: []string{"/var/lib/indexbuild/"}, root: "/var/lib/indexbuild", sub: "", allowed: true},
		{path: "/data/a/b", roots: []string{"/data", "/data/a"}, root: "/data/a", sub: "b", allowed: true},
		{path: "/data/a/b", roots: []string{"/data/a", "/data"}, root: "/data/a", sub: "b", allowed: true},
		{path: "/etc/x", roots: []string{"/"}, root: "/", sub: "etc/x", allowed: true},
		{path: "/database", roots: []string{"/data"}},
		{path: "/x", roots: nil},
	} {
		root, sub, err := Split(tc.path, tc.roots)
		if (err == nil) != tc.allowed || root != tc.root || sub != tc.sub {
			t.Errorf("Split(%q, %q) = %q, %q, %v; want %q, %q, allowed=%v", tc.path, tc.roots, root, sub, err, tc.root, tc.sub, tc.allowed)
		}
	}
}
