// Package staging is the layout workers write under staging/ in a task's
// version of the output (versions/<jobID>/, see internal/output), and the
// task manifest that pins the version to one task:
//
//	staging/_task.json                     task metadata, create-if-absent by the first worker
//	staging/part_<p>_<element>.<ext>       a partition's file for one element
//	staging/part_<p>.json                  PartitionMeta: the partition is complete
//
// A worker never writes outside staging/. Finalize (internal/commit) copies
// the staged files to their final names and writes the commit marker.
package staging

import (
	"fmt"
	"strconv"
	"strings"
)

// Prefix is the key prefix of everything staged.
const Prefix = "staging/"

// TaskManifestKey is the key of the task manifest.
const TaskManifestKey = Prefix + "_task.json"

// FormatVersion is the version of PartitionMeta this package writes and reads.
const FormatVersion = 1

// Extensions of the files the reference worker stages.
const (
	ExtIndex    = "sst" // sorted key index (Pebble sstable)
	ExtFulltext = "ft"  // inverted index (Pebble SSTable, docs/fulltext-format.md)
)

// PartFileKey is the staged key of a partition's file for one element.
func PartFileKey(partition int, element int64, ext string) string {
	return fmt.Sprintf("%spart_%d_%d.%s", Prefix, partition, element, ext)
}

// PartitionMetaKey is the key of a partition's metadata.
func PartitionMetaKey(partition int) string {
	return fmt.Sprintf("%spart_%d.json", Prefix, partition)
}

// ParsePartitionMetaKey returns the partition of a PartitionMetaKey, and
// false for any other key (part files, the manifest, stray objects).
func ParsePartitionMetaKey(key string) (int, bool) {
	s, ok := strings.CutPrefix(key, Prefix+"part_")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, ".json")
	if !ok {
		return 0, false
	}
	p, err := strconv.Atoi(s)
	if err != nil || p < 0 || strconv.Itoa(p) != s {
		return 0, false
	}
	return p, true
}

// ParsePartFileKey splits a PartFileKey into partition, element and
// extension; false for any other key.
func ParsePartFileKey(key string) (partition int, element int64, ext string, ok bool) {
	s, ok := strings.CutPrefix(key, Prefix+"part_")
	if !ok {
		return 0, 0, "", false
	}
	name, ext, ok := strings.Cut(s, ".")
	if !ok || ext == "" || strings.ContainsAny(ext, "/.") {
		return 0, 0, "", false
	}
	ps, es, ok := strings.Cut(name, "_")
	if !ok {
		return 0, 0, "", false
	}
	p, err1 := strconv.Atoi(ps)
	e, err2 := strconv.ParseInt(es, 10, 64)
	if err1 != nil || err2 != nil || p < 0 || e <= 0 || strconv.Itoa(p) != ps || strconv.FormatInt(e, 10) != es {
		return 0, 0, "", false
	}
	return p, e, ext, true
}
