"""`cscx-jira customers import`: row-by-row validation, a clear report, and nothing half-imported."""

from __future__ import annotations

import json

from click.testing import CliRunner
from sqlalchemy import func, select

from connect_app import create_app
from connect_app.cli import main
from connect_app.config import Config
from connect_app.extensions import db
from connect_app.models import Customer, Organization

GOOD_CSV = """name,external_id,arr,tier,health_score,renewal_date,csm_owner_email,stakeholders
Acme Corp,crm-1,"250,000",Enterprise,81,2027-03-31,maya@cscx.example,"Ana Garcia <ana@acme.example> (CTO); Ben Smith"
Globex,crm-2,90000.50,mid-market,64,2027-01-15,omar@cscx.example,
Initech,crm-3,12000,smb,,,,
"""

BAD_CSV = """name,external_id,arr,tier,health_score,renewal_date,csm_owner_email
Acme Corp,crm-1,250000,enterprise,81,2027-03-31,maya@cscx.example
,crm-2,90000,mid_market,64,2027-01-15,omar@cscx.example
Initech,crm-3,-5,platinum,140,next year,not-an-email
Acme Again,crm-1,1,smb,50,2027-01-01,a@b.example
"""


def run(args):
    """Invoke the CLI in-process and return (exit code, combined output)."""
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    return result.exit_code, result.output


def refused(path) -> str:
    """Import a file that must be refused: exit code 1 and a single line on stderr; returns that line."""
    result = CliRunner().invoke(main, ["customers", "import", str(path), "--workspace", "ws-import"],
                                catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""  # refused before anything was validated or written
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def customer_count(env) -> int:
    """How many customers the test database holds."""
    app = create_app(Config(env))
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(Customer))
        db.session.remove()
        db.engine.dispose()
        return count


def customers_and_workspaces(env) -> tuple[dict[str, str | None], list[str]]:
    """Customer names by external id, and the workspace ids, in the test database."""
    app = create_app(Config(env))
    with app.app_context():
        names = dict(db.session.execute(select(Customer.external_id, Customer.name)).all())
        workspaces = list(db.session.scalars(select(Organization.id)))
        db.session.remove()
        db.engine.dispose()
        return names, workspaces


def test_good_csv_is_imported(cli_env, tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text(GOOD_CSV)
    code, output = run(["customers", "import", str(path), "--workspace", "ws-import"])
    assert code == 0, output
    assert "imported 3 customer(s): 3 created, 0 updated" in output
    app = create_app(Config(cli_env))
    with app.app_context():
        acme = db.session.scalars(select(Customer).where(Customer.external_id == "crm-1")).one()
        assert str(acme.arr) == "250000.00"
        assert acme.tier == "enterprise"
        assert acme.stakeholders == [{"name": "Ana Garcia", "email": "ana@acme.example", "role": "CTO"},
                                     {"name": "Ben Smith"}]
        db.session.remove()
        db.engine.dispose()
    code, output = run(["customers", "import", str(path), "--workspace", "ws-import"])
    assert "0 created, 3 updated" in output
    assert customer_count(cli_env) == 3


def test_bad_rows_are_reported_by_line_and_nothing_is_imported(cli_env, tmp_path):
    seed = tmp_path / "seed.csv"
    seed.write_text("name,external_id,arr\nExisting Co,crm-9,100\n")
    assert run(["customers", "import", str(seed), "--workspace", "ws-import"])[0] == 0
    path = tmp_path / "bad.csv"
    path.write_text(BAD_CSV)
    code, output = run(["customers", "import", str(path), "--workspace", "ws-import"])
    assert code == 1
    assert "rejected 3 row(s); nothing was imported" in output
    assert "line 3: name: is required" in output
    assert "line 4:" in output and "arr: must be a non-negative amount" in output
    assert "tier: must be one of" in output and "health_score: must be a whole number" in output
    assert "renewal_date: must be a date" in output and "csm_owner_email" in output
    assert "line 5: external_id: duplicates line 2" in output
    assert customer_count(cli_env) == 1  # the valid row on line 2 was not imported either


def test_json_import_reports_items(cli_env, tmp_path):
    path = tmp_path / "customers.json"
    path.write_text(json.dumps({"customers": [{"name": "Hooli", "arr": 5}, {"arr": 7}, "nonsense"]}))
    code, output = run(["customers", "import", str(path), "--workspace", "ws-import"])
    assert code == 1
    assert "item 2: name: is required" in output
    assert "item 3:" in output
    assert customer_count(cli_env) == 0


def test_unreadable_files_get_a_clear_error(cli_env, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    code, output = run(["customers", "import", str(path), "--workspace", "ws-import"])
    assert code == 1 and "not valid JSON" in output
    csv_path = tmp_path / "noname.csv"
    csv_path.write_text("company,arr\nAcme,1\n")
    code, output = run(["customers", "import", str(csv_path), "--workspace", "ws-import"])
    assert code == 1 and "must include a 'name' column" in output


# ---- strict reading: the file is parsed as CSV over its whole text, and every problem refuses it


def test_quoted_newlines_and_unicode_line_separators_stay_in_their_field(cli_env, tmp_path):
    path = tmp_path / "multiline.csv"
    path.write_bytes('name,external_id,arr\r\n"Acme\nWest",crm-1,1\r\n'
                     'Globex\u2028Labs,crm-2,2\r\nInitech\x85Inc,crm-3,3\r\n"Hooli\r\nEast",crm-4,4\r\n'
                     .encode())
    code, output = run(["customers", "import", str(path), "--workspace", "ws-import"])
    assert code == 0, output
    assert "imported 4 customer(s)" in output
    names, _ = customers_and_workspaces(cli_env)
    assert names == {"crm-1": "Acme\nWest", "crm-2": "Globex\u2028Labs", "crm-3": "Initech\x85Inc",
                     "crm-4": "Hooli\r\nEast"}


def test_rows_are_reported_at_the_line_where_they_start(cli_env, tmp_path):
    path = tmp_path / "lines.csv"
    path.write_text('name,external_id,arr\n"Acme\nWest\nCampus",crm-1,1\n\nGlobex,crm-2,-5\n', newline="")
    code, output = run(["customers", "import", str(path), "--workspace", "ws-import"])
    assert code == 1
    assert "line 6: arr: must be a non-negative amount" in output  # after a three-line row and a blank line
    assert customers_and_workspaces(cli_env) == ({}, [])  # nothing imported, and no workspace created


def test_an_unclosed_quote_is_refused_at_its_line(cli_env, tmp_path):
    path = tmp_path / "unclosed.csv"
    path.write_text('name,arr\nAcme,1\n"Globex,2\nInitech,3\nHooli,4\n')
    assert refused(path).endswith("unclosed.csv: line 3: a quoted field is never closed "
                                  '(a missing " before the end of the file)')
    path.write_text('name,arr\n"Acme" Corp,1\n')
    assert "line 2: a quoted field is followed by more text" in refused(path)
    assert customers_and_workspaces(cli_env) == ({}, [])


def test_duplicate_columns_are_refused(cli_env, tmp_path):
    path = tmp_path / "duplicate.csv"
    path.write_text("name,arr,tier, arr\nAcme,1,smb,2\n")
    assert refused(path).endswith("duplicate.csv: line 1: duplicate column 'arr' (columns 2 and 4)")
    assert customers_and_workspaces(cli_env) == ({}, [])


def test_a_latin1_file_is_refused_with_the_lines_that_are_not_utf8(cli_env, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("name,external_id\nAcme,crm-1\nCaf\u00e9 Noir,crm-2\nM\u00fcller AG,crm-3\n".encode("latin-1"))
    line = refused(path)
    assert "latin1.csv: not UTF-8 text (undecodable bytes on lines 3, 4); save it as UTF-8" in line
    assert customers_and_workspaces(cli_env) == ({}, [])


def test_utf16_with_a_byte_order_mark_is_read_and_without_one_refused(cli_env, tmp_path):
    text = "name,external_id\nCaf\u00e9 Noir,crm-1\n\u6771\u4eac Corp,crm-2\n"
    for encoding in ("utf-16", "utf-16-be"):
        path = tmp_path / f"{encoding}.csv"
        data = text.encode(encoding)
        path.write_bytes(data if encoding == "utf-16" else b"\xfe\xff" + data)
        code, output = run(["customers", "import", str(path), "--workspace", "ws-import"])
        assert code == 0, output
    names, _ = customers_and_workspaces(cli_env)
    assert names == {"crm-1": "Caf\u00e9 Noir", "crm-2": "\u6771\u4eac Corp"}
    bare = tmp_path / "utf16-no-bom.csv"
    bare.write_bytes(text.encode("utf-16-le"))
    assert "utf16-no-bom.csv: looks like UTF-16 without a byte order mark; save it as UTF-8" in refused(bare)


def test_an_oversized_field_is_refused_not_a_traceback(cli_env, tmp_path):
    path = tmp_path / "huge.csv"
    path.write_text("name,stakeholders\nAcme," + "x" * (128 * 1024 + 1) + "\n")
    assert refused(path).endswith("huge.csv: line 2: a field is longer than 131072 characters")
    assert customers_and_workspaces(cli_env) == ({}, [])


def test_empty_files_and_nul_characters_are_refused(cli_env, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("\n\n")
    assert refused(path).endswith("empty.csv: the file is empty")
    path.write_text("name,arr\n")
    assert refused(path).endswith("empty.csv: no customers to import")
    path.write_bytes(b"\xef\xbb\xbfname,arr\nAc\x00me,1\n")
    assert refused(path).endswith("empty.csv: NUL characters on line 2")
    assert customers_and_workspaces(cli_env) == ({}, [])


def test_a_refused_import_creates_no_workspace_and_a_good_one_does(cli_env, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("name,arr\nAcme,-1\n")
    assert run(["customers", "import", str(path), "--workspace", "ws-new"])[0] == 1
    assert customers_and_workspaces(cli_env) == ({}, [])
    path.write_text("name,arr\nAcme,1\n")
    assert run(["customers", "import", str(path), "--workspace", "ws-new"])[0] == 0
    assert customers_and_workspaces(cli_env)[1] == ["ws-new"]
