#!/usr/bin/env python3
"""Writes tests/data/example.xlsx, the small XLSForm of docs/surveys.md, with the standard library only
(inline strings, no styles), so the example can be read and changed without a spreadsheet program."""
import zipfile
from xml.sax.saxutils import escape

SURVEY = [
    ["type", "name", "label::English (en)", "label::French (fr)", "hint::English (en)", "relevant", "required", "constraint", "parameters", "chorus::breakdown", "chorus::merge", "read_by::English (en)", "read_by::French (fr)"],
    ["note", "welcome", "Ten questions about night work. Skip any of them.", "Dix questions sur le travail de nuit. Passez celles que vous voulez."],
    ["begin_group", "work", "Your work", "Votre travail"],
    ["select_one yes_no", "worked_nights", "Did you work nights in the last 3 months?", "Avez-vous travaillé la nuit ces 3 derniers mois ?", "", "", "no", "", "", "yes"],
    ["select_multiple places", "places", "Where did you work?", "Où avez-vous travaillé ?", "Tick up to two.", "selected(${worked_nights}, 'yes')", "", "count-selected(.) <= 2"],
    ["range", "safety", "How safe did you feel (1 = not at all, 5 = very)?", "À quel point vous sentiez-vous en sécurité (1 = pas du tout, 5 = très) ?", "", "${worked_nights} = 'yes'", "", "", "start=1 end=5"],
    ["end_group", "work"],
    ["begin_group", "about", "About you", "À propos de vous"],
    ["select_one chorus_regions", "region", "Where do you live?", "Où vivez-vous ?", "", "", "", "", "", "", "atlantic territories"],
    ["note", "about_note", "Small places are grouped so that no one stands out.", "Les petites régions sont regroupées pour que personne ne se distingue."],
    ["text", "comments", "Anything else? No names, places or dates.", "Autre chose ? Pas de noms, de lieux ni de dates.", "", "", "", "string-length(.) <= 100", "", "", "", "Only the two researchers of this study read what you write here.", "Seules les deux personnes qui font cette étude lisent ce que vous écrivez ici."],
    ["end_group", "about"],
]
CHOICES = [
    ["list_name", "name", "label::English (en)", "label::French (fr)"],
    ["yes_no", "yes", "Yes", "Oui"],
    ["yes_no", "no", "No", "Non"],
    ["places", "street", "Street", "Rue"],
    ["places", "indoor", "Indoors (home, hotel, parlour)", "À l'intérieur (domicile, hôtel, salon)"],
    ["places", "online", "Arranged online", "Organisé en ligne"],
]
SETTINGS = [
    ["form_id", "version", "default_language", "form_title::English (en)", "form_title::French (fr)", "chorus::codes"],
    ["night-shift", "1", "English (en)", "Night shift", "Travail de nuit", "off"],
]
SHEETS = [("survey", SURVEY), ("choices", CHOICES), ("settings", SETTINGS)]

# tests/data/unsupported.xlsx: features Chorus refuses, each reported with sheet, row and column.
UNSUPPORTED = [
    ["type", "name", "label", "required", "calculation"],
    ["calculate", "total", "", "", "1+1"],
    ["geopoint", "where", "Where are you?", "yes"],
    ["select_one yes_no", "ok", "Are you OK?", "true"],
]
UNSUPPORTED_SHEETS = [("survey", UNSUPPORTED), ("choices", CHOICES[:3]), ("settings", [["form_id", "version"], ["refused", "1"]])]


def col(i):
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def sheet_xml(rows):
    out = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
           '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>']
    for r, row in enumerate(rows, 1):
        out.append(f'<row r="{r}">')
        for c, v in enumerate(row):
            if v:
                out.append(f'<c r="{col(c)}{r}" t="inlineStr"><is><t>{escape(v)}</t></is></c>')
        out.append("</row>")
    out.append("</sheetData></worksheet>")
    return "".join(out)


def write(path, SHEETS):
  with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
    n = len(SHEETS)
    z.writestr("[Content_Types].xml",
               '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
               '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
               '<Default Extension="xml" ContentType="application/xml"/>'
               '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
               + "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>' for i in range(1, n + 1))
               + "</Types>")
    z.writestr("_rels/.rels",
               '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
               '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
    z.writestr("xl/workbook.xml",
               '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
               + "".join(f'<sheet name="{name}" sheetId="{i}" r:id="rId{i}"/>' for i, (name, _) in enumerate(SHEETS, 1))
               + "</sheets></workbook>")
    z.writestr("xl/_rels/workbook.xml.rels",
               '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
               + "".join(f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{i}.xml"/>' for i in range(1, n + 1))
               + "</Relationships>")
    for i, (_, rows) in enumerate(SHEETS, 1):
        z.writestr(f"xl/worksheets/sheet{i}.xml", sheet_xml(rows))


write("tests/data/example.xlsx", SHEETS)
write("tests/data/unsupported.xlsx", UNSUPPORTED_SHEETS)
