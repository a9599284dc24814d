#!/usr/bin/env bash
# Build the seed corpora of every fuzz target into fuzz/corpus/TARGET (not versioned: libFuzzer
# grows them) from banc's fixtures, suites and the ANS kit (BANC_KIT, else ../shared/ans-kit).
# Needs a built banc (target/release/banc) for the XDM packages.
set -euo pipefail
cd "$(dirname "$0")"
repo=..
kit="${BANC_KIT:-$repo/../shared/ans-kit}"
banc="${BANC_BIN:-$repo/target/release/banc}"
c=corpus
mkdir -p $c/{document,document_kit,cda_header,mail,xdm,xdm_metadata,smtp_session,ack,suite_toml,schematron,xpath2,valueset}

# Documents: ours, and a few of the kit's examples.
for f in $(find $repo/fixtures/cr-bio -name '*.xml') $(find "$kit/ExemplesCDA" -name '*.xml' | sort | head -20); do
  n=$(basename "$f")
  for t in document document_kit cda_header; do cp "$f" "$c/$t/$n"; done
done

# Messages and acknowledgements.
for f in $(find $repo/fixtures/mail -name '*.eml'); do cp "$f" "$c/mail/$(basename "$f")"; done
for f in $repo/fixtures/mail/acks/*.eml; do cp "$f" "$c/ack/$(basename "$f")"; done
# An MDN with its original after four NUL bytes.
{ cat $repo/fixtures/mail/acks/mdn-processed.eml; printf '\0\0\0\0'; find $repo/fixtures/mail/valid -name '*.eml' | head -1 | xargs cat; } > $c/ack/mdn-with-original

# Packages, and their METADATA.XML.
for f in $repo/fixtures/cr-bio/valid/*.xml; do
  n=$(basename "$f" .xml)
  "$banc" xdm pack --submission-time 20261201120000 -o "$c/xdm/$n.zip" --force "$f" >/dev/null
  python3 -c 'import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
open(sys.argv[2], "wb").write(next(z.read(i) for i in z.namelist() if i.endswith("METADATA.XML")))' "$c/xdm/$n.zip" "$c/xdm_metadata/$n.xml"
done

# SMTP sessions: first byte sets the read chunk size, then the client's bytes.
session() { # $1 name, $2 message file
  { printf '\x07EHLO labo.example\r\nMAIL FROM:<sgl.labo@labo-exemple.mssante.fr> SIZE=1000 BODY=8BITMIME\r\nRCPT TO:<secretariat@hopital-nord.mssante.fr>\r\nDATA\r\n'
    sed 's/^\./../; s/$/\r/' "$2"; printf '.\r\nQUIT\r\n'; } > "$c/smtp_session/$1"
}
i=0
for f in $(find $repo/fixtures/mail/valid $repo/fixtures/mail/faults -name '*.eml' | sort | head -8); do
  session "s$i" "$f"; i=$((i+1))
done
printf '\x00HELO x\r\nMAIL FROM:<>\r\nRCPT TO:<dr.martin@medecin.mssante.fr>\r\nRSET\r\nNOOP\r\nVRFY a\r\nSTARTTLS\r\nQUIT\r\n' > $c/smtp_session/commands
printf '\xffEHLO x\r\nMAIL FROM:<a@b.fr>\r\nRCPT TO:<dr.martin@medecin.mssante.fr>\r\nDATA\r\nSubject: x\n\nbody\n.\r\nMAIL FROM:<evil@x.fr>\r\n.\r\n' > $c/smtp_session/smuggle

# Suites: suite.toml NUL scenario NUL participants NUL serve.toml.
for s in $repo/suites/*/; do
  for sc in $(ls "$s"scenarios/*.toml | head -6); do
    { cat "$s/suite.toml"; printf '\0'; cat "$sc"; printf '\0'; cat $repo/suites/participants.example.toml; printf '\0'; cat $repo/fixtures/smtp/serve.toml; } > "$c/suite_toml/$(basename "$s")-$(basename "$sc" .toml)"
  done
done

# Schematrons: the kit's (their includes will not resolve: the loader's errors are exercised too),
# and a small self-contained one.
for f in $(ls "$kit"/schematrons/*.sch | head -10); do cp "$f" "$c/schematron/"; done
cat > $c/schematron/small.sch <<'SCH'
<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2">
  <ns prefix="cda" uri="urn:hl7-org:v3"/>
  <phase id="p"><active pattern="a"/></phase>
  <let name="codes" value="('2345-7', '2951-2')"/>
  <pattern id="a">
    <rule context="cda:observation[cda:code/@codeSystem='2.16.840.1.113883.6.1']">
      <assert test="cda:value/@unit or cda:value/@xsi:type != 'PQ'">unité <value-of select="cda:code/@code"/></assert>
      <report test="cda:code/@code = $codes">code connu</report>
    </rule>
  </pattern>
</schema>
SCH

# XPath expressions of the kit's schematrons (asserts, reports, contexts).
python3 - "$kit/schematrons" "$c/xpath2" <<'PY'
import sys, re, pathlib, hashlib
src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
seen = set()
for f in sorted(src.rglob('*.sch')):
    text = f.read_text(encoding='utf-8', errors='replace')
    for m in re.finditer(r'\b(?:test|context|select|value)="([^"]{1,2000})"', text):
        e = m.group(1).replace('&lt;', '<').replace('&gt;', '>').replace('&quot;', '"').replace('&apos;', "'").replace('&amp;', '&')
        if e in seen: continue
        seen.add(e)
        (out / hashlib.sha1(e.encode()).hexdigest()[:16]).write_text(e)
        if len(seen) >= 3000: break
PY

# Value sets: first byte 0 SVS, 1 FHIR, 2 CSV, 3 XLSX.
for f in $repo/fixtures/terminology/svs/*.xml $(ls "$kit"/jeuxDeValeurs/*.xml | head -10); do { printf '\x00'; cat "$f"; } > "$c/valueset/svs-$(basename "$f")"; done
for f in $repo/fixtures/terminology/fhir/*.json; do { printf '\x01'; cat "$f"; } > "$c/valueset/fhir-$(basename "$f")"; done
{ printf '\x02'; cat $repo/fixtures/terminology/circuit-bio.csv; } > $c/valueset/circuit.csv
{ printf '\x03'; cat $repo/fixtures/terminology/circuit-bio.xlsx; } > $c/valueset/circuit.xlsx
for t in $c/*; do echo "$(basename "$t"): $(ls "$t" | wc -l) seeds"; done
