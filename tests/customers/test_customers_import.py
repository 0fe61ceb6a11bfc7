"""`cscx-jira customers import`: row-by-row validation, a clear report, and nothing half-imported."""

from __future__ import annotations

import json

from click.testing import CliRunner
from sqlalchemy import func, select

from connect_app import create_app
from connect_app.cli import main
from connect_app.config import Config
from connect_app.extensions import db
from connect_app.models import Customer

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


def customer_count(env) -> int:
    """How many customers the test database holds."""
    app = create_app(Config(env))
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(Customer))
        db.session.remove()
        db.engine.dispose()
        return count


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
