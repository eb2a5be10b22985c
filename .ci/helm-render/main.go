// helm-render: `helm template` for this chart where no helm binary can be installed.
//
// No helm release is reachable from the build machines (only PyPI, Debian and npm), so CI
// renders the chart with what Debian packages: Go's text/template, the sprig function
// library helm uses (golang-github-masterminds-sprig-dev) and sigs.k8s.io/yaml (helm's
// toYaml). It reproduces the parts of helm's engine this chart relies on: values from
// values.yaml merged with -f files, .Release, .Chart, .Capabilities, .Template, .Files.Get,
// include, tpl, required, toYaml, fromYaml, toJson, fromJson, missing keys as zero values,
// and partials (files starting with "_") parsed but not rendered. Not reproduced: lookup
// (always empty), subcharts, hooks ordering, schema validation (tests/deploy/test_chart.py does it).
//
// Usage: helm-render CHART_DIR RELEASE NAMESPACE [VALUES_FILE ...] > manifests.yaml
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"sigs.k8s.io/yaml"
)

type Files struct{ dir string }

func (f Files) Get(name string) string {
	data, err := os.ReadFile(filepath.Join(f.dir, name))
	if err != nil {
		return ""
	}
	return string(data)
}

func readYAML(path string) map[string]interface{} {
	out := map[string]interface{}{}
	data, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	if err := yaml.Unmarshal(data, &out); err != nil {
		fail("%s: %v", path, err)
	}
	return out
}

// merge copies src over dst: maps merge key by key, everything else replaces (helm's coalesce).
func merge(dst, src map[string]interface{}) {
	for key, value := range src {
		if child, ok := value.(map[string]interface{}); ok {
			if existing, ok := dst[key].(map[string]interface{}); ok {
				merge(existing, child)
				continue
			}
		}
		dst[key] = value
	}
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "helm-render: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 4 {
		fail("usage: helm-render CHART_DIR RELEASE NAMESPACE [VALUES_FILE ...]")
	}
	chartDir, release, namespace := os.Args[1], os.Args[2], os.Args[3]
	meta := readYAML(filepath.Join(chartDir, "Chart.yaml"))
	values := readYAML(filepath.Join(chartDir, "values.yaml"))
	for _, path := range os.Args[4:] {
		merge(values, readYAML(path))
	}
	name, _ := meta["name"].(string)
	chart := map[string]interface{}{
		"Name": name, "Version": meta["version"], "AppVersion": meta["appVersion"],
		"Description": meta["description"], "ApiVersion": meta["apiVersion"], "Type": meta["type"],
	}
	basePath := name + "/templates"

	root := template.New("gotpl").Option("missingkey=zero")
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	funcs["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		err := root.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		err = t.Execute(&buf, data)
		return buf.String(), err
	}
	funcs["required"] = func(message string, value interface{}) (interface{}, error) {
		if value == nil || value == "" {
			return nil, fmt.Errorf("%s", message)
		}
		return value, nil
	}
	funcs["toYaml"] = func(value interface{}) string {
		data, err := yaml.Marshal(value)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(string(data), "\n")
	}
	funcs["fromYaml"] = func(text string) map[string]interface{} {
		out := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(text), &out); err != nil {
			out["Error"] = err.Error()
		}
		return out
	}
	funcs["toJson"] = func(value interface{}) string {
		data, _ := json.Marshal(value)
		return string(data)
	}
	funcs["fromJson"] = func(text string) map[string]interface{} {
		out := map[string]interface{}{}
		if err := json.Unmarshal([]byte(text), &out); err != nil {
			out["Error"] = err.Error()
		}
		return out
	}
	funcs["lookup"] = func(...interface{}) map[string]interface{} { return map[string]interface{}{} }
	root.Funcs(funcs)

	var names []string
	err := filepath.Walk(filepath.Join(chartDir, "templates"), func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(filepath.Join(chartDir, "templates"), path)
		tplName := basePath + "/" + filepath.ToSlash(rel)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if _, err := root.New(tplName).Parse(string(data)); err != nil {
			return err
		}
		names = append(names, tplName)
		return nil
	})
	if err != nil {
		fail("parse: %v", err)
	}
	sort.Strings(names)

	for _, tplName := range names {
		base := filepath.Base(tplName)
		if strings.HasPrefix(base, "_") || !(strings.HasSuffix(base, ".yaml") || strings.HasSuffix(base, ".yml")) {
			continue
		}
		data := map[string]interface{}{
			"Values":  values,
			"Chart":   chart,
			"Files":   Files{dir: chartDir},
			"Release": map[string]interface{}{"Name": release, "Namespace": namespace, "Service": "Helm", "IsInstall": true, "Revision": 1},
			"Capabilities": map[string]interface{}{
				"KubeVersion": map[string]interface{}{"Version": "v1.30.0", "Major": "1", "Minor": "30"},
				"APIVersions": []string{},
			},
			"Template": map[string]interface{}{"Name": tplName, "BasePath": basePath},
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, tplName, data); err != nil {
			fail("render %s: %v", tplName, err)
		}
		if strings.TrimSpace(buf.String()) == "" {
			continue
		}
		fmt.Printf("---\n# Source: %s\n%s\n", tplName, strings.TrimSpace(buf.String()))
	}
}
