// Command ociimage writes a single-layer OCI image archive (an OCI layout in a
// tar file, what `ctr images import` reads) from local files, with no docker
// daemon and no registry. hack/dev-cluster.sh uses it for the project's image
// and the pod sandbox (pause) image.
//
// usage:
//
//	go run ./hack/ociimage -o out.tar -name docker.io/library/indexbuild:dev \
//	    -entrypoint /indexbuild -user 0 /indexbuild=bin/linux/indexbuild ...
//
// Each argument is IMAGE_PATH=LOCAL_FILE. Timestamps and ownership are fixed,
// so the same inputs always give the same digests: re-importing an unchanged
// image is a no-op for containerd.
package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"
)

const (
	mediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	mediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar"
)

// epoch is the modification time of everything in the image.
var epoch = time.Unix(0, 0).UTC()

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    *platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

type blob struct {
	digest string
	data   []byte
}

func newBlob(data []byte) blob {
	sum := sha256.Sum256(data)
	return blob{digest: "sha256:" + hex.EncodeToString(sum[:]), data: data}
}

func main() {
	var (
		out        = flag.String("o", "", "output archive (required)")
		name       = flag.String("name", "", "full image reference, e.g. docker.io/library/indexbuild:dev (required)")
		entrypoint = flag.String("entrypoint", "", "entrypoint, space-separated")
		user       = flag.String("user", "", "numeric user the image runs as (empty: root)")
		arch       = flag.String("arch", "amd64", "image architecture")
	)
	flag.Parse()
	if *out == "" || *name == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: ociimage -o OUT.tar -name REF [-entrypoint CMD] [-user UID] IMAGE_PATH=LOCAL_FILE...")
		os.Exit(2)
	}
	if err := run(*out, *name, strings.Fields(*entrypoint), *user, *arch, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
}

func run(out, name string, entrypoint []string, user, arch string, files []string) error {
	layer, err := buildLayer(files)
	if err != nil {
		return err
	}
	layerBlob := newBlob(layer)
	config, err := json.Marshal(map[string]any{
		"architecture": arch,
		"os":           "linux",
		"created":      epoch,
		"config": map[string]any{
			"Entrypoint": entrypoint,
			"User":       user,
			"Env":        []string{"PATH=/usr/local/bin:/usr/bin:/bin:/"},
			"WorkingDir": "/",
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layerBlob.digest}},
	})
	if err != nil {
		return err
	}
	configBlob := newBlob(config)
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaTypeManifest,
		"config":        descriptor{MediaType: mediaTypeConfig, Digest: configBlob.digest, Size: int64(len(config))},
		"layers":        []descriptor{{MediaType: mediaTypeLayer, Digest: layerBlob.digest, Size: int64(len(layer))}},
	})
	if err != nil {
		return err
	}
	manifestBlob := newBlob(manifest)
	colon := strings.LastIndex(name, ":")
	if colon < strings.LastIndex(name, "/") || colon < 0 {
		return fmt.Errorf("image name %q has no tag", name)
	}
	tag := name[colon+1:]
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaTypeIndex,
		"manifests": []descriptor{{
			MediaType: mediaTypeManifest,
			Digest:    manifestBlob.digest,
			Size:      int64(len(manifest)),
			Platform:  &platform{Architecture: arch, OS: "linux"},
			// containerd names the imported image after the first annotation;
			// the second is the OCI layout's own tag.
			Annotations: map[string]string{
				"io.containerd.image.name":          name,
				"org.opencontainers.image.ref.name": tag,
			},
		}},
	})
	if err != nil {
		return err
	}

	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	tw := tar.NewWriter(f)
	entries := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
	}
	for _, b := range []blob{layerBlob, configBlob, manifestBlob} {
		entries = append(entries, struct {
			name string
			data []byte
		}{"blobs/sha256/" + strings.TrimPrefix(b.digest, "sha256:"), b.data})
	}
	for _, e := range entries {
		if err := writeFile(tw, e.name, 0o644, e.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	fmt.Printf("%s %s\n", name, manifestBlob.digest)
	return nil
}

// buildLayer returns an uncompressed layer tar holding each IMAGE_PATH=LOCAL_FILE
// (mode 0755, owned by root), the directories above them, and a /tmp that any
// user can write.
func buildLayer(files []string) ([]byte, error) {
	contents := map[string]string{}
	dirs := map[string]bool{"tmp": true}
	for _, arg := range files {
		dst, src, ok := strings.Cut(arg, "=")
		if !ok || !strings.HasPrefix(dst, "/") {
			return nil, fmt.Errorf("argument %q: want /IMAGE_PATH=LOCAL_FILE", arg)
		}
		dst = strings.TrimPrefix(path.Clean(dst), "/")
		contents[dst] = src
		for d := path.Dir(dst); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range sortedKeys(dirs) {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		hdr := &tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: mode, ModTime: epoch, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
	}
	for _, dst := range sortedKeys(contents) {
		data, err := os.ReadFile(contents[dst])
		if err != nil {
			return nil, err
		}
		if err := writeFile(tw, dst, 0o755, data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeFile(tw *tar.Writer, name string, mode int64, data []byte) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err := io.Copy(tw, bytes.NewReader(data))
	return err
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
