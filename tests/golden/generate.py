#!/usr/bin/env python3
"""Writes the golden corpus: one .eml per case, next to a hand-checked expected .json.

Run from this directory: `python3 generate.py`. Only the .eml files are (re)written; the
expected verdicts in *.json are maintained by hand and reviewed with every change.
"""
import base64, io, struct, zipfile, zlib
from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.base import MIMEBase
from email.mime.image import MIMEImage
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.header import Header
from email import policy as email_policy
from email import encoders

ORG = "phoneco.example"
CUSTOMERS = ["maria.garcia@gmail.com", "j.smith1987@yahoo.com", "tomwilson@hotmail.com",
             "li.wei@outlook.com", "sam.okafor@icloud.com", "ana.souza@aol.com"]
ASK = ("Dear customer,\n\nAs part of our annual address verification, please reply to this email "
       "with a copy of your driver's license (front and back) so we can confirm your address.\n\n"
       "Thank you,\nCustomer Care\nPhoneCo\n")
ASK_ES = ("Estimado cliente:\n\nComo parte de la verificación anual de su domicilio, por favor "
          "responda a este correo con una foto de su licencia de conducir (ambos lados).\n\n"
          "Gracias,\nAtención al Cliente\nPhoneCo\n")
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")

def base(msg, subject, to=None, cc=None, frm=f"Customer Care <care@{ORG}>", date="Tue, 03 Mar 2026 10:00:00 +0000", n=0):
    msg["From"] = frm
    if to is not None:
        msg["To"] = to
    if cc is not None:
        msg["Cc"] = cc
    if subject.isascii():
        msg["Subject"] = subject
    else:
        msg["Subject"] = "=?utf-8?q?" + "".join(
            c if c.isascii() and c.isalnum() else "_" if c == " " else "".join(f"={b:02X}" for b in c.encode("utf-8"))
            for c in subject) + "?="
    msg["Date"] = date
    msg["Message-ID"] = f"<golden-{n}@{ORG}>"
    return msg

def text(body, charset="utf-8", cte=None):
    if cte is None and body.isascii():
        return MIMEText(body, "plain", "us-ascii")
    m = MIMEText(body, "plain", charset)
    if cte:
        del m["Content-Transfer-Encoding"]
        if cte == "quoted-printable":
            import quopri
            m.set_payload(quopri.encodestring(body.encode(charset)).decode("ascii"))
        elif cte == "base64":
            m.set_payload(base64.encodebytes(body.encode(charset)).decode("ascii"))
        m["Content-Transfer-Encoding"] = cte
    return m

def write(name, msg):
    data = msg.as_bytes(policy=email_policy.compat32.clone(linesep="\r\n")) if not isinstance(msg, bytes) else msg
    with open(name + ".eml", "wb") as f:
        f.write(data)

cases = {}
n = 0
def case(name):
    def deco(fn):
        global n
        n += 1
        cases[name] = (fn, n)
        return fn
    return deco

@case("incident-to")
def _(i):
    m = base(text(ASK), "Address verification", to=", ".join(CUSTOMERS), n=i)
    return m

@case("incident-cc")
def _(i):
    return base(text(ASK), "Address verification", to=f"care@{ORG}", cc=", ".join(CUSTOMERS), n=i)

@case("incident-bcc-list-reply-to")
def _(i):
    m = base(text(ASK), "Address verification", to=f"customers@{ORG}", n=i)
    m["Reply-To"] = f"customers@{ORG}"
    m["Bcc"] = ", ".join(CUSTOMERS)
    return m

@case("incident-html-only")
def _(i):
    html = ("<html><head><style>p{color:#333}</style></head><body><p>Dear customer,</p>"
            "<p>Please <b>reply</b> to this email with a copy of your <span>dri</span>ver&#8217;s "
            "lic<i>ense</i> to verify your address.</p><p>Thank&nbsp;you</p></body></html>")
    m = MIMEText(html, "html", "utf-8")
    return base(m, "Address verification", to=", ".join(CUSTOMERS), n=i)

@case("incident-quoted-printable")
def _(i):
    m = text(ASK.replace("driver's", "driver’s") + "Atentamente — ñ\n", cte="quoted-printable")
    return base(m, "Address verification", to=", ".join(CUSTOMERS), n=i)

@case("incident-base64")
def _(i):
    return base(text(ASK, cte="base64"), "Address verification", to=", ".join(CUSTOMERS), n=i)

@case("incident-encoded-subject")
def _(i):
    m = text("Dear customer,\n\nSee the subject line. Thanks!\n")
    m = base(m, "x", to=", ".join(CUSTOMERS), n=i)
    del m["Subject"]
    subject = "Please reply with a photo of your passport – verificación".encode("utf-8")
    m["Subject"] = "=?utf-8?b?" + base64.b64encode(subject).decode("ascii") + "?="
    return m

@case("incident-spanish")
def _(i):
    return base(text(ASK_ES, cte="quoted-printable"), "Verificación de domicilio", to=", ".join(CUSTOMERS), n=i)

@case("incident-forwarded-rfc822")
def _(i):
    inner = base(text(ASK), "Address verification", to="care@" + ORG, n=1000 + i)
    outer = MIMEMultipart("mixed")
    outer.attach(text("Hi all, see the request below and please act on it.\n"))
    outer.attach(MIMEMessage(inner))
    return base(outer, "Fwd: Address verification", to=", ".join(CUSTOMERS), n=i)

@case("incident-ask-in-html-alternative")
def _(i):
    alt = MIMEMultipart("alternative")
    alt.attach(text("Dear customer,\n\nThis message is best viewed in HTML.\n"))
    alt.attach(MIMEText("<p>Dear customer,</p><p>Kindly <em>send us</em> a scan of your passport "
                        "by replying to this message.</p>", "html", "utf-8"))
    return base(alt, "Important: verify your account", to=", ".join(CUSTOMERS), n=i)

@case("negative-bcc-newsletter")
def _(i):
    m = text("Hello!\n\nOur stores are open late this week. Visit phoneco.example/stores for hours.\n"
             "Reply STOP to unsubscribe.\n")
    m = base(m, "Late opening this week", to="undisclosed-recipients:;", frm=f"PhoneCo News <news@{ORG}>", n=i)
    m["Bcc"] = ", ".join(CUSTOMERS + [f"customer{k}@gmail.com" for k in range(40)])
    m["List-Unsubscribe"] = f"<mailto:unsubscribe@{ORG}>"
    return m

@case("negative-internal-discussion")
def _(i):
    body = ("Team,\n\nLast week's email asked customers to send their driver's licenses, and it went "
            "out as a group email. That was a mistake: several customers received other customers' "
            "license photos. We have notified those affected.\n\nFrom now on, never ask for documents "
            "by email; use the verification portal.\n\nRegards,\nCompliance\n")
    return base(text(body), "Incident review: license request email",
                to=f"care-team@{ORG}, leads@{ORG}", cc=f"compliance@{ORG}", frm=f"Compliance <compliance@{ORG}>", n=i)

@case("negative-order-number-fails-luhn")
def _(i):
    body = ("Hi Maria,\n\nYour order 4556 7375 8689 9856 has shipped and will arrive on Friday.\n"
            "Tracking: 1Z999AA10123456784\n\nThanks for shopping with PhoneCo.\n")
    return base(text(body), "Your order has shipped", to="maria.garcia@gmail.com", n=i)

@case("negative-last-four-digits")
def _(i):
    body = ("Hi Maria,\n\nWe charged your card ending in 9855 for $45.00. Your account number ends "
            "in 4411.\n\nThanks,\nBilling\n")
    return base(text(body), "Payment received", to="maria.garcia@gmail.com", n=i)

@case("negative-never-send-license")
def _(i):
    body = ("Dear customer,\n\nA reminder: PhoneCo will never ask you to send your driver's license "
            "or passport by email. Never send your license by email. If someone asks, report it to "
            "security@phoneco.example.\n\nCustomer Care\n")
    return base(text(body), "Security reminder", to="maria.garcia@gmail.com", n=i)

@case("negative-verification-link")
def _(i):
    body = ("Dear Maria,\n\nPlease confirm your address through our secure portal: "
            "https://verify.phoneco.example/v/abc123 (the link expires in 72 hours).\n\nCustomer Care\n")
    return base(text(body), "Confirm your address", to="maria.garcia@gmail.com", n=i)

@case("exposed-customers-no-ask")
def _(i):
    body = "Dear customers,\n\nOur Main Street store will be closed on Monday for renovation.\n"
    return base(text(body), "Store closure", to=", ".join(CUSTOMERS[:3]), n=i)

@case("large-audience-visible")
def _(i):
    to = ", ".join(f"partner{k}@vendor{k}.example.org" for k in range(30))
    return base(text("Hello all,\n\nThe quarterly meeting is on Thursday.\n"), "Quarterly meeting",
                to=to, n=i)

@case("lookalike-gmial")
def _(i):
    return base(text("Hi Maria,\n\nHere is the quote you asked for.\n"), "Your quote",
                to="maria.garcia@gmial.com", n=i)

@case("lookalike-own-domain")
def _(i):
    return base(text("Hi Bob,\n\nThe Q3 numbers are attached in the shared drive.\n"), "Q3 numbers",
                to="bob@phonec0.example", n=i)

@case("sensitive-card-in-body")
def _(i):
    body = "Hi,\n\nAs requested, the card on file is 4556 7375 8689 9855, exp 04/27.\n\nBilling\n"
    return base(text(body), "Card on file", to="maria.garcia@gmail.com", n=i)

@case("sensitive-ssn-and-iban")
def _(i):
    body = ("Hello,\n\nFor the transfer: IBAN DE89 3704 0044 0532 0130 00. The customer's SSN is "
            "536-22-1234.\n\nRegards\n")
    return base(text(body), "Transfer details", to="ops@billing-partner.example", n=i)

@case("attachment-csv-bulk")
def _(i):
    ssns = ["536-22-1234", "219-09-9999", "457-55-5462", "212-67-3456", "345-23-4567", "523-45-6781",
            "401-23-4568", "318-42-9876", "271-66-1234", "489-36-2222", "604-11-3030", "151-24-6868"]
    csv = "name,ssn\n" + "".join(f"Customer {k},{s}\n" for k, s in enumerate(ssns))
    outer = MIMEMultipart("mixed")
    outer.attach(text("Hi,\n\nThe customer list you asked for is attached.\n"))
    part = MIMEText(csv, "csv", "utf-8")
    part.add_header("Content-Disposition", "attachment", filename="customers.csv")
    outer.attach(part)
    return base(outer, "Customer list", to="analyst@billing-partner.example", n=i)

@case("attachment-license-photo")
def _(i):
    outer = MIMEMultipart("mixed")
    outer.attach(text("Hi,\n\nForwarding the customer's document for the file.\n"))
    img = MIMEImage(PNG, "png")
    img.add_header("Content-Disposition", "attachment", filename="drivers_license_front.png")
    outer.attach(img)
    return base(outer, "Document", to="records@billing-partner.example", n=i)

def encrypted_zip():
    # A ZIP whose only member has the "encrypted" flag (general purpose bit 0) set.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("statements.csv", "not really encrypted, but flagged as such\n")
    data = bytearray(buf.getvalue())
    # Set bit 0 in the local header (offset 6) and the central directory header (offset 8).
    struct.pack_into("<H", data, 6, struct.unpack_from("<H", data, 6)[0] | 1)
    cd = data.find(b"PK\x01\x02")
    struct.pack_into("<H", data, cd + 8, struct.unpack_from("<H", data, cd + 8)[0] | 1)
    return bytes(data)

@case("attachment-encrypted-zip")
def _(i):
    outer = MIMEMultipart("mixed")
    outer.attach(text("Hi,\n\nThe statements are in the attached archive; the password follows by SMS.\n"))
    part = MIMEApplication(encrypted_zip(), "zip")
    part.add_header("Content-Disposition", "attachment", filename="statements.zip")
    outer.attach(part)
    return base(outer, "Statements", to="maria.garcia@gmail.com", n=i)

@case("malformed-no-headers")
def _(i):
    return b"\x00\x01\x02 garbage that is not a message at all\r\n\r\n\xff\xfe"

@case("malformed-broken-multipart")
def _(i):
    return (f"From: care@{ORG}\r\nTo: maria.garcia@gmail.com\r\nSubject: broken\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
            "--outer\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            "SGVsbG8gTWFyaWEsIHlvdXIgYmlsbCBpcyByZWFkeS4=====!!!@@@\r\n"
            "--outer\r\nContent-Type: application/pdf; name=bill.pdf\r\nContent-Disposition: attachment; filename=bill.pdf\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJeLjz9MKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+Pg==\r\n").encode()

@case("reply-fanout-list-post")
def _(i):
    m = base(text("New firmware is out. Reply to this thread with feedback.\n"), "Firmware 2.1",
             to="maria.garcia@gmail.com", frm=f"Beta Program <beta@{ORG}>", n=i)
    m["List-Id"] = f"<beta.{ORG}>"
    m["List-Post"] = f"<mailto:beta@{ORG}>"
    return m

def docx(paragraphs):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
        z.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>')
        body = "".join(f'<w:p><w:r><w:t xml:space="preserve">{t}</w:t></w:r></w:p>' for t in paragraphs)
        z.writestr("word/document.xml", f'<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>')
    return buf.getvalue()

def xlsx(rows):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>')
        z.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        z.writestr("xl/workbook.xml", '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Customers" sheetId="1" r:id="rId1"/></sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels", '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')
        xml_rows = "".join(
            f'<row r="{r + 1}">' + "".join(f'<c r="{chr(65 + c)}{r + 1}" t="inlineStr"><is><t>{v}</t></is></c>' for c, v in enumerate(row)) + "</row>"
            for r, row in enumerate(rows))
        z.writestr("xl/worksheets/sheet1.xml", f'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{xml_rows}</sheetData></worksheet>')
    return buf.getvalue()

OOXML = "application/vnd.openxmlformats-officedocument."

@case("attachment-docx-request-to-group")
def _(i):
    outer = MIMEMultipart("mixed")
    outer.attach(text("Dear customers,\n\nPlease read the attached letter.\n"))
    part = MIMEApplication(docx(["Dear customer,", "To keep your account active, please reply to this email with a scan of your passport.", "PhoneCo"]), "vnd.openxmlformats-officedocument.wordprocessingml.document")
    part.add_header("Content-Disposition", "attachment", filename="letter.docx")
    outer.attach(part)
    return base(outer, "Important letter", to=", ".join(CUSTOMERS[:4]), n=i)

@case("attachment-xlsx-card-list")
def _(i):
    cards = ["4111 1111 1111 1111", "4012 8888 8888 1881", "5555 5555 5555 4444", "5105 1051 0510 5100",
             "3782 822463 10005", "3714 496353 98431", "6011 1111 1111 1117", "6011 0009 9013 9424",
             "3530 1113 3330 0000", "4556 7375 8689 9855", "4916 3385 0608 2832", "5425 2334 3010 9903"]
    rows = [["Name", "Card"]] + [[f"Customer {k}", c] for k, c in enumerate(cards)]
    outer = MIMEMultipart("mixed")
    outer.attach(text("Hi,\n\nAttached is the chargeback list.\n"))
    part = MIMEApplication(xlsx(rows), "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    part.add_header("Content-Disposition", "attachment", filename="chargebacks.xlsx")
    outer.attach(part)
    return base(outer, "Chargebacks", to="disputes@billing-partner.example", n=i)

@case("attachment-zip-with-passport-scan")
def _(i):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("notes.txt", "Customer file, see scan.\n")
        z.writestr("scans/passport_scan.png", PNG)
    outer = MIMEMultipart("mixed")
    outer.attach(text("Hi,\n\nThe customer file is attached.\n"))
    part = MIMEApplication(buf.getvalue(), "zip")
    part.add_header("Content-Disposition", "attachment", filename="customer-file.zip")
    outer.attach(part)
    return base(outer, "Customer file", to="records@billing-partner.example", n=i)

@case("negative-ordinary-photo-attachment")
def _(i):
    outer = MIMEMultipart("mixed")
    outer.attach(text("Hi Maria,\n\nHere is the photo of the new store front you asked about.\n"))
    img = MIMEImage(PNG, "png")
    img.add_header("Content-Disposition", "attachment", filename="store_front.png")
    outer.attach(img)
    return base(outer, "Store photo", to="maria.garcia@gmail.com", n=i)

@case("negative-internal-group")
def _(i):
    body = "Team,\n\nPlease reply with your availability for Friday's training.\n"
    return base(text(body), "Training", to=", ".join(f"agent{k}@{ORG}" for k in range(8)), n=i)

@case("negative-spanish-warning")
def _(i):
    body = ("Estimado cliente:\n\nLe recordamos que PhoneCo nunca le pedirá que envíe su pasaporte ni su "
            "licencia de conducir por correo electrónico. No envíe su DNI por correo.\n\nAtención al Cliente\n")
    return base(text(body, cte="quoted-printable"), "Aviso de seguridad", to="maria.garcia@gmail.com", n=i)

@case("reply-fanout-reply-to-several")
def _(i):
    m = base(text("Hello,\n\nYour service will be upgraded on Monday.\n"), "Service upgrade",
             to="maria.garcia@gmail.com", n=i)
    m["Reply-To"] = f"care@{ORG}, escalations@{ORG}, tomwilson@hotmail.com"
    return m

if __name__ == "__main__":
    for name, (fn, i) in cases.items():
        write(name, fn(i))
    print(f"wrote {len(cases)} messages")
