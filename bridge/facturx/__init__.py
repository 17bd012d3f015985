"""Factur-X (EN 16931, CII syntax): the structured invoice inside every PDF.

    cii.py       snapshot → the CII XML (`factur-x.xml`), a pure function
    schema.py    the XSD check every generated XML passes at render time
    rules.py     the official schematrons (EN 16931, French BR-FR), run on demand in a
                 subprocess: `quittance check-invoice --facturx` and the test suite

Embedding the XML in the PDF and the PDF/A-3b finishing live with rendering
(`bridge/render/facturx_pdf.py`), since they work on the PDF's bytes.
"""
