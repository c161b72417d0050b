#!/usr/bin/env python3
"""The help page's languages: the catalogs and how a request picks one (TAP).

  - contrib/dev/help-messages --check: po/help.pot is what the template marks,
    and every catalog translates every message, keeping its tags; msgfmt -c
    accepts every catalog (and the template of catalogs);
  - policyd --help-page --lang LANG for each language: <html lang>, the
    catalog's words, none of the English messages left; an unknown --lang
    fails and names the languages there are;
  - from the listener: ?lang= first, then Accept-Language with its q-values,
    else English; Content-Language and Vary: Accept-Language; the other
    languages offered as plain links that keep the page's query;
  - a catalog that drops a message's tag is refused by policyd -t with its
    FILE:LINE; one that lacks a translation is a warning, and that message is
    shown in English;
  - the SMTP reply stays English whatever the page's language.

Needs msgfmt (gettext) for its check; nothing else beyond the build.
"""

import os
import re
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request

from lib.daemon import POLICYD, Policyd, Tap, request

t = Tap()
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HELP_DIR = os.path.join(ROOT, "contrib", "help")
PO_DIR = os.path.join(HELP_DIR, "po")
TOOL = os.path.join(ROOT, "contrib", "dev", "help-messages")
CATALOGS = sorted(f for f in os.listdir(PO_DIR) if f.endswith(".po"))
LANGS = ["en"] + [f[:-3] for f in CATALOGS]
TITLES = {"en": "Your email was not delivered", "de": "Ihre E-Mail wurde nicht zugestellt",
          "fr": "Votre e-mail n’a pas été distribué", "es": "Su correo no se ha entregado",
          "it": "La tua email non è stata consegnata", "nl": "Uw e-mail is niet afgeleverd",
          "pt": "O seu e-mail não foi entregue", "pl": "Twoja wiadomość nie została doręczona"}


def run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)
    return p.returncode, p.stdout, p.stderr


def test_catalogs():
    t.ok(set(TITLES) <= set(LANGS), f"English and at least de fr es it nl pt pl: {' '.join(LANGS)}")
    rc, out, err = run([TOOL, "--check"])
    t.ok(rc == 0, "help.pot is what the template marks; every catalog translates every message, keeping its tags",
         err[-2000:])
    msgfmt = shutil.which("msgfmt")
    for name in CATALOGS + ["help.pot"]:
        if msgfmt is None:
            t.skip(f"msgfmt -c {name}", "msgfmt not installed (Debian package gettext)")
            continue
        rc, out, err = run([msgfmt, "-c", "--check-accelerators=_", "-o", "/dev/null", os.path.join(PO_DIR, name)])
        t.ok(rc == 0 and (name == "help.pot" or "warning" not in err), f"msgfmt -c accepts {name}", err[-1000:])


def english_messages():
    """The template's messages, without their tags, that are long enough to be told apart."""
    with open(os.path.join(HELP_DIR, "template.html"), encoding="utf-8") as f:
        text = f.read()
    msgs = [re.sub(r"\s+", " ", m).strip() for m in re.findall(r"\{\{_\}\}(.*?)\{\{/_\}\}", text, re.S)]
    plain = [re.sub(r"\{\{[^}]*\}\}|<[^>]+>", "", m) for m in msgs]
    return [p for p in plain if len(p) > 40 and "{{" not in p]


def test_static(d):
    english = english_messages()
    for lang in LANGS:
        rc, out, err = run([POLICYD, "-c", d.config, "--help-page", "--lang", lang, "--ip", "192.0.2.10"])
        left = [m[:50] for m in english if m in re.sub(r"\s+", " ", out)] if lang != "en" else []
        t.ok(rc == 0 and f'<html lang="{lang}">' in out and TITLES.get(lang, "") in out and not left,
             f"--help-page --lang {lang}: the page in {lang}, no English message left", f"{err}\n{left[:3]}")
    rc, out, err = run([POLICYD, "-c", d.config, "--help-page", "--lang", "xx"])
    t.ok(rc == 1 and out == "" and "--lang: no catalog" in err and " de " in err + " ",
         "--help-page --lang xx: an error that names the languages", err)


def fetch(d, path, accept=None):
    headers = {"Accept-Language": accept} if accept else {}
    req = urllib.request.Request(f"http://127.0.0.1:{d.http_port()}{path}", headers=headers)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.headers, r.read().decode()


def test_negotiation(d):
    for accept, query, want, why in (
            (None, "", "en", "no Accept-Language: English"),
            ("de-DE,de;q=0.9,en;q=0.8", "", "de", "a German browser"),
            ("fr;q=0.5, nl;q=0.7", "", "nl", "the highest q-value wins"),
            ("ja, zh;q=0.9", "", "en", "none of the page's languages: English"),
            ("pt-BR, pl;q=0.2", "", "pt", "a region subtag matches its language"),
            ("de;q=0, it;q=0.1", "", "it", "q=0 refuses a language"),
            ("de", "?lang=pl", "pl", "?lang= comes before Accept-Language"),
            ("es", "?lang=xx", "es", "an unknown ?lang= is ignored"),
    ):
        headers, body = fetch(d, "/" + query, accept)
        t.ok(headers.get("Content-Language") == want and f'<html lang="{want}">' in body
             and "Accept-Language" in (headers.get("Vary") or "") and TITLES[want] in body,
             f"{why}: {want}", f"{headers.get('Content-Language')} {headers.get('Vary')}")
    _, body = fetch(d, "/blacklisted.html?ip=192.0.2.99&list=local&lang=fr")
    links = re.findall(r'<a href="blacklisted\.html\?([^"]*)" hreflang="([a-z]+)" lang="([a-z]+)">([^<]+)</a>', body)
    t.eq(sorted(h for _, h, _, _ in links), sorted(x for x in LANGS if x != "fr"),
         "the page offers each other language as a link")
    t.ok(all(q == f"ip=192.0.2.99&amp;list=local&amp;lang={h}" and h == la for q, h, la, _ in links)
         and ("Deutsch" in [n for *_, n in links]),
         "... in its own name, keeping the page's query", links[:3])


def test_broken_catalogs(tmp):
    bad = os.path.join(tmp, "help")
    shutil.copytree(HELP_DIR, bad)
    de = os.path.join(bad, "po", "de.po")
    with open(de, encoding="utf-8") as f:
        text = f.read()
    # Drop a translation, and break another's tags.
    text = text.replace('msgstr "Zur Erklärung springen"', 'msgstr ""')
    with open(de, "w", encoding="utf-8") as f:
        f.write(text)
    d = Policyd(start=False)
    d.write_config(extra=f"[http]\nlisten = inet:127.0.0.1:0\nhelp_dir = {bad}\n")
    rc, out, err = run([POLICYD, "-c", d.config, "-t"])
    t.ok(rc == 0 and re.search(r"warning: help page: .*/po/de\.po: 1 of \d+ messages not translated", err),
         "a catalog that lacks a translation: policyd -t warns", err)
    rc, out, err = run([POLICYD, "-c", d.config, "--help-page", "--lang", "de"])
    t.ok(rc == 0 and "Skip to the explanation" in out and "Ihre E-Mail wurde nicht zugestellt" in out,
         "... and shows that message in English, the others translated")
    broken = 'msgstr "Was unser Server im Moment über die Adresse weiß"'
    text = text.replace('msgstr "Was unser Server im Moment über {{asked_ip}} weiß"', broken)
    with open(de, "w", encoding="utf-8") as f:
        f.write(text)
    msgid_line = text[:text.index(broken)].count("\n")  # the msgid, the line before
    rc, out, err = run([POLICYD, "-c", d.config, "-t"])
    t.ok(rc == 1 and f"/po/de.po:{msgid_line}: the translation does not keep the tags" in err,
         f"a translation that drops its message's tag: policyd -t fails with FILE:LINE (de.po:{msgid_line})", err)


def test_reply_english(d):
    reply = d.ask(request("192.0.2.99"))
    t.ok(reply.startswith("action=REJECT") and "blacklisted" in reply and "\n" not in reply.rstrip("\n"),
         "the SMTP reply stays one line of English", reply)


def main():
    with tempfile.TemporaryDirectory(prefix="policyd-i18n-test-") as tmp:
        t.run("catalogs", test_catalogs)
        d = Policyd(start=False)
        with open(os.path.join(d.dir, "local.cidr"), "w") as f:
            f.write("192.0.2.99\n")
        d.write_config(extra=(f"site = Example Org\n[http]\nlisten = inet:127.0.0.1:0\nhelp_dir = {HELP_DIR}\n"
                              f"[list local]\nfile = {d.dir}/local.cidr\n"))
        t.run("--help-page --lang", test_static, d)
        with d:
            d.start()
            t.run("negotiation", test_negotiation, d)
            t.run("reply", test_reply_english, d)
        t.run("broken catalogs", test_broken_catalogs, tmp)
    t.done()


if __name__ == "__main__":
    main()
