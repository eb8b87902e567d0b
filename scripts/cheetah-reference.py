"""Render the Cheetah conformance cases with real Cheetah (Debian's python3-cheetah).

Reads the cases file (blocks headed by "=== name"), renders each with the search list bindery
gives a Cheetah template, from the directory of the template so #include paths resolve alike,
and prints one JSON object: name -> {"ok": true, "out": text} or {"ok": false, "err": type}.
"""
import json
import os
import sys

from Cheetah.Template import Template


def cases(path):
    name, lines, out = None, [], []
    with open(path, encoding='utf-8') as f:
        for line in f.read().split('\n')[:-1]:
            if line.startswith('=== '):
                if name is not None:
                    out.append((name, '\n'.join(lines) + '\n'))
                name, lines = line[4:].strip(), []
            else:
                lines.append(line)
    if name is not None:
        out.append((name, '\n'.join(lines) + '\n'))
    return out


def main():
    cases_file, template_dir = sys.argv[1], sys.argv[2]
    source_path = os.path.join(template_dir, 'motd.cheetah')
    search = {'name': '/etc/motd', 'path': '/etc/motd', 'source_path': os.path.abspath(source_path), 'repo': os.path.abspath(sys.argv[3])}
    todo = cases(cases_file)
    os.chdir(template_dir)
    result = {}
    for name, src in todo:
        try:
            result[name] = {'ok': True, 'out': str(Template(src, searchList=[search]))}
        except Exception as e:  # every failure is a bind failure to bindery
            result[name] = {'ok': False, 'err': type(e).__name__}
    json.dump(result, sys.stdout, indent=1, sort_keys=True, ensure_ascii=False)
    sys.stdout.write('\n')


main()
