"""--push_to_hub that fails early or leaves a complete folder: the access check before training (offline, no token,
unreachable, invalid token, no write access), a failed upload with its retry command, clean uploaded files (no
absolute path, no pickle, 0644) and the card's metadata.

The Hub is a stand-in ``http.server`` on 127.0.0.1 (or a closed local port); nothing reaches the network. The
access checks turn huggingface_hub's offline mode (conftest.py) off only to reach these local endpoints.
"""

import json
import shlex
import socket
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from huggingface_hub import HfApi, ModelCard, constants
from tiny import save_tiny_backbone, tiny_model, tiny_tokenizer

from sentcse.modeling import SimCseModel
from sentcse.trainers.cards import (
    HUB_IGNORE_PATTERNS,
    HubAccessError,
    HubUploadError,
    RunRecord,
    check_hub_access,
    finish_output_folder,
    hub_upload_files,
    write_model_card,
)
from sentcse.trainers.cards.card import LICENSE_NOTE

USER, ORG = "alice", "team"
TOKENS = {"hf_write": "write", "hf_read": "read"}  # any other token is invalid (401)


# ------------------------------------------------------------------------------------------------ stand-in Hub
class _Hub(BaseHTTPRequestHandler):
    requests: list = []

    def _answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _token(self):
        return self.headers.get("authorization", "").removeprefix("Bearer ").strip()

    def do_GET(self):
        self.requests.append(("GET", self.path))
        if self.path == "/api/whoami-v2":
            role = TOKENS.get(self._token())
            if role is None:
                return self._answer(401, {"error": "Invalid credentials in Authorization header"})
            return self._answer(200, {"type": "user", "name": USER, "orgs": [{"name": ORG}],
                                      "auth": {"type": "access_token", "accessToken": {"role": role}}})
        self._answer(404, {"error": "Repository not found"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
        self.requests.append(("POST", self.path, body))
        if body.get("name") == "locked":
            return self._answer(403, {"error": "You don't have the rights to create a model under this namespace"})
        host = f"http://{self.headers['host']}"
        self._answer(200, {"url": f"{host}/{body['organization']}/{body['name']}"})

    def log_message(self, *args):
        pass


@pytest.fixture
def online(monkeypatch):
    """huggingface_hub's offline mode off, for the explicit 127.0.0.1 endpoints of these tests."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


@pytest.fixture
def hub(online):
    _Hub.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield SimpleNamespace(endpoint=f"http://127.0.0.1:{server.server_port}", requests=_Hub.requests)
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def no_login(monkeypatch, tmp_path):
    """No token from the machine: no HF_TOKEN, no stored login."""
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-stored-token"))


def _check(hub, repo_id="tiny", token="hf_write", tmp="/tmp/sentcse-out"):
    return check_hub_access(repo_id, tmp, token=token, endpoint=hub.endpoint)


# ------------------------------------------------------------------------------------------------ access check
def test_access_check_returns_the_full_id_and_creates_the_repo(hub, tmp_path):
    assert check_hub_access(None, tmp_path / "my-run", token="hf_write", endpoint=hub.endpoint) == "alice/my-run"
    assert _check(hub, f"{ORG}/model") == f"{ORG}/model"
    created = [r[2] for r in hub.requests if r[0] == "POST"]
    assert [(c["organization"], c["name"]) for c in created] == [(USER, "my-run"), (ORG, "model")]


def test_access_check_without_a_token_names_the_fix(hub):
    with pytest.raises(HubAccessError, match=r"no[ne]* .*found.*`hf auth login` or set HF_TOKEN") as error:
        _check(hub, token=None)
    assert "\n" not in str(error.value) and hub.requests == []  # one line, before any request


def test_access_check_reads_the_token_from_hf_token(hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_write")
    assert _check(hub, token=None) == "alice/tiny"


def test_access_check_on_an_unreachable_endpoint(online, tmp_path):
    with socket.socket() as probe:  # a local port with nothing listening
        probe.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(HubAccessError) as error:
        check_hub_access("alice/tiny", tmp_path / "out", token="hf_write", endpoint=endpoint)
    message = str(error.value)
    assert message.startswith(f"the Hub at {endpoint} cannot be reached (") and "\n" not in message
    assert "check the network or HF_ENDPOINT, or train without --push_to_hub and upload later with `hf upload " \
           f"alice/tiny {tmp_path / 'out'} . --exclude" in message


def test_access_check_with_an_invalid_token(hub):
    with pytest.raises(HubAccessError) as error:
        _check(hub, token="hf_expired")
    assert str(error.value) == "the token is not valid: run `hf auth login` or set HF_TOKEN"


@pytest.mark.parametrize("repo_id, token, expected", [
    (f"{ORG}/locked", "hf_write", f"no write access to {ORG}/locked: the Hub refused to create it (HfHubHTTPError"),
    ("tiny", "hf_read", "no write access to alice/tiny: the token is read-only"),
    ("bob/tiny", "hf_write", "no write access to bob/tiny: bob is neither your account (alice) nor one of your "
                             "organisations; pass --hub_model_id alice/tiny"),
], ids=["create-refused", "read-only-token", "foreign-namespace"])
def test_access_check_without_write_access(hub, repo_id, token, expected):
    with pytest.raises(HubAccessError) as error:
        _check(hub, repo_id, token=token)
    assert str(error.value).startswith(expected) and "\n" not in str(error.value)


def test_access_check_in_offline_mode_fails_at_once(hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubAccessError, match=r"offline mode is on \(HF_HUB_OFFLINE=1\)"):
        _check(hub)
    assert hub.requests == []


# ------------------------------------------------------------------------------------------------ a finished folder
@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """finish_output_folder(push_to_hub=True) on a tiny trained-looking folder whose upload fails; the folder holds
    what a real run leaves (training_args.bin, a TensorBoard run, a checkpoint, absolute paths)."""
    from transformers import TrainingArguments

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("finished")
    backbone = save_tiny_backbone(root / "backbone")
    model = SimCseModel.from_backbone(str(backbone)).eval()  # records the absolute backbone path in config.json
    out = root / "out"
    model.save_pretrained(out)
    model.get_tokenizer().save_pretrained(out)
    args = TrainingArguments(output_dir=str(out), report_to="none", hub_model_id="alice/out")
    torch.save({"output_dir": str(out)}, out / "training_args.bin")
    (out / "runs" / "Dec01").mkdir(parents=True)
    (out / "runs" / "Dec01" / "events.out.tfevents.1.host").write_bytes(f"output_dir={out}".encode())
    (out / "checkpoint-1").mkdir()
    (out / "checkpoint-1" / "config.json").write_text("{}")
    log = [{"loss": 2.0, "step": 1}, {"eval_stsb_spearman": 40.0, "step": 1}, {"loss": 1.5, "step": 2}]
    state = {"best_metric": 40.0, "best_model_checkpoint": str(out / "checkpoint-1"), "global_step": 2,
             "log_history": log}
    (out / "trainer_state.json").write_text(json.dumps(state))
    (out / "sentcse_run.json").write_text(json.dumps({"fingerprint": "0123", "run": {"backbone": str(backbone)}}))
    trainer = SimpleNamespace(args=args, model=model, processing_class=model.get_tokenizer(),
                              state=SimpleNamespace(log_history=log))
    run = {"method": "simcse", "backbone": str(backbone), "train_file": str(root / "corpus.txt"), "n_sentences": 64}

    def refused(self, **kwargs):
        raise OSError("connection reset by peer")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(HfApi, "upload_folder", refused)
        with pytest.raises(HubUploadError) as error:
            finish_output_folder(trainer, run=run, final_eval={"eval_stsb_spearman": 40.0}, push_to_hub=True,
                                 repo_id="alice/out")
    torch.set_num_threads(threads)
    return SimpleNamespace(root=root, out=out, backbone=backbone, error=str(error.value))


def test_failed_upload_leaves_a_complete_folder_and_the_retry_command(finished, monkeypatch):
    message, out = finished.error, finished.out
    assert message.startswith(f"the upload of {out} to alice/out failed (OSError: connection reset by peer); the "
                              "folder is complete: retry with `hf upload alice/out ")
    for name in ("README.md", "training_curve.png", "training_info.json", "modules.json", "sentence_bert_config.json",
                 "config_sentence_transformers.json", "config.json", "model.safetensors", "modeling_simcse.py"):
        assert (out / name).is_file(), name
    assert 'AutoModel.from_pretrained("alice/out"' in (out / "README.md").read_text()

    # The command, run through huggingface_hub's own CLI, uploads the same files.
    from click.testing import CliRunner
    from huggingface_hub.cli.hf import app  # the click group `hf` runs

    command = shlex.split(message.split("retry with `", 1)[1].rstrip("`"))
    calls = []
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: calls.append(("create", repo_id))
                        or SimpleNamespace(repo_id=repo_id))
    monkeypatch.setattr(HfApi, "upload_folder", lambda self, **kw: calls.append(("upload", kw)) or "done")
    result = CliRunner().invoke(app, command[1:])
    assert result.exit_code == 0, result.output
    (_, repo_id), (_, upload) = calls
    assert repo_id == "alice/out" and upload["repo_id"] == "alice/out" and Path(upload["folder_path"]) == out
    assert upload["ignore_patterns"] == list(HUB_IGNORE_PATTERNS) and upload["commit_message"] == "End of training"


def test_uploaded_files_hold_no_local_path_no_pickle_and_are_world_readable(finished):
    out = finished.out
    files = hub_upload_files(out)
    assert "model.safetensors" in files and "trainer_state.json" in files
    assert not [f for f in files if f.startswith(("checkpoint-", "runs/")) or f.endswith((".bin", ".pt", ".pkl"))]
    for name in files:
        data = (out / name).read_bytes()
        assert str(finished.root).encode() not in data, name  # the output folder, the backbone, the corpus
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o644, name
    info = json.loads((out / "training_info.json").read_text())
    assert info["run"]["backbone"] == "backbone" and info["run"]["train_file"] == "corpus.txt"
    assert info["run"]["local_inputs"] == ["backbone", "train_file"]
    assert info["training_args"]["output_dir"] == "."  # the arguments as JSON, relative to the folder
    assert json.loads((out / "trainer_state.json").read_text())["best_model_checkpoint"] == "checkpoint-1"
    assert json.loads((out / "config.json").read_text())["backbone_config"]["_name_or_path"] == "backbone"
    # the run's record is local state (resume, overwrite): never uploaded, so left as the run wrote it
    assert "sentcse_run.json" not in files
    assert json.loads((out / "sentcse_run.json").read_text())["run"] == {"backbone": str(finished.backbone)}
    assert (out / "training_args.bin").is_file()  # kept locally for the Trainer, never uploaded


# ------------------------------------------------------------------------------------------------ card metadata
def test_card_of_a_local_backbone_without_a_licence(finished):
    card = ModelCard.load(finished.out / "README.md")
    assert card.data.base_model is None and card.data.datasets is None  # local names are no Hub ids
    assert card.data.license == "other" and LICENSE_NOTE in card.text
    assert card.data.pipeline_tag == "sentence-similarity" and card.data.library_name == "transformers"
    assert "`backbone` (a local backbone)" in card.text


@pytest.mark.parametrize("backbone, train_file, license, base_model, datasets", [
    ("local", "corpus.txt", "mit", None, None),
    ("sentcse-test/no-such-backbone", "someone/corpus", None, "sentcse-test/no-such-backbone", ["someone/corpus"]),
], ids=["local-backbone-with-licence", "hub-backbone-and-dataset"])
def test_card_metadata_from_the_run(tmp_path, backbone, train_file, license, base_model, datasets):
    model = tiny_model(SimCseModel, tiny_tokenizer())
    model.save_pretrained(tmp_path / "model")
    if backbone == "local":
        backbone = tmp_path / "local"
        backbone.mkdir()
        (backbone / "README.md").write_text("---\nlicense: mit\nlanguage: en\n---\n# a backbone\n")
    RunRecord.from_run(tmp_path / "model", {"backbone": str(backbone), "train_file": train_file},
                       environment={"python": "3"}).save(tmp_path / "model")
    card = ModelCard.load(write_model_card(tmp_path / "model"))
    assert card.data.base_model == base_model and card.data.datasets == datasets
    assert card.data.license == (license or "other") and (LICENSE_NOTE in card.text) == (license is None)
    assert {"sentence-transformers", "sentence-similarity", "sentcse", "simcse"} <= set(card.data.tags)


# ------------------------------------------------------------------------------------------------ a training run
def test_a_training_run_uploads_its_own_files_without_local_traces(hub, tmp_path, monkeypatch, capsys):
    """sentcse-train --push_to_hub against the stand-in Hub, into a folder holding files of the user's (one from
    before the run, one added while it trains, with local paths in them and 0600). What goes up, and what the
    retry command sends after the upload failed, is the run's files alone: none of them holds a local path, a
    user file's name or the run's local record; the user's files are untouched."""
    from cli_runs import SENTENCES, during_training, flags

    from sentcse.trainers.cli.train import main

    backbone = save_tiny_backbone(tmp_path / "backbone")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(SENTENCES) + "\n")
    out = tmp_path / "out"
    out.mkdir()
    user = {"private-notes-7f3a.txt": f"data in {tmp_path}/data\n",
            "my-eval-9c1d.json": json.dumps({"path": str(tmp_path / "data")})}
    for name, text in user.items():
        (out / name).write_text(text)
        (out / name).chmod(0o600)
    added = "added-during-2b4e.txt"
    during_training(monkeypatch, 1, lambda: (out / added).write_text(str(tmp_path)))
    monkeypatch.setattr(constants, "ENDPOINT", hub.endpoint)
    uploaded = {}

    def upload_folder(self, **kwargs):  # what HfApi.upload_folder would send, read before it fails
        from huggingface_hub.utils import filter_repo_objects

        folder = Path(kwargs["folder_path"])
        paths = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
        for name in filter_repo_objects(paths, allow_patterns=kwargs.get("allow_patterns"),
                                        ignore_patterns=kwargs.get("ignore_patterns")):
            uploaded[name] = (folder / name).read_bytes()
        raise OSError("connection reset by peer")

    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        main(flags(backbone, corpus, out, "--push_to_hub", "--hub_model_id", "alice/out", "--hub_token", "hf_write"))
    err = capsys.readouterr().err
    assert stopped.value.code == 1, err[-2000:]
    assert {"model.safetensors", "config.json", "README.md", "training_info.json", "tokenizer.json"} <= set(uploaded)
    assert "sentcse_run.json" not in uploaded and not ({*user, added} & set(uploaded))
    names = [name.encode() for name in (*user, added)] + [name.rsplit(".", 1)[0].encode() for name in (*user, added)]
    for name, data in uploaded.items():
        assert str(tmp_path).encode() not in data, name
        assert b"user_files" not in data and not [n for n in names if n in data], name
    for name, text in user.items():
        assert (out / name).read_text() == text and stat.S_IMODE((out / name).stat().st_mode) == 0o600, name
    assert (out / added).read_text() == str(tmp_path)

    # the retry command sends the same files, as they are in the folder after the failed upload
    command = shlex.split(err.split("retry with `", 1)[1].split("`", 1)[0])
    includes = [command[i + 1] for i, part in enumerate(command) if part == "--include"]
    assert sorted(includes) == sorted(uploaded) == hub_upload_files(out, allow_patterns=includes)
    for name in includes:
        assert (out / name).read_bytes() == uploaded[name], name
