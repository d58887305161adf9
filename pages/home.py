"""Home: what this is, the state of the workspace, and a one-click demo build on a fresh machine."""
import streamlit as st

from app import auth, loaders
from app.nav import page
from ctl_core.config import METHODS
from db.accounts import has_accounts

ws = loaders.workspace()
eng = loaders.engine(ws)
if st.query_params.get("invite"):  # a one-time invitation link: set a password, then sign in
    auth.invitation_form(eng, st.query_params["invite"])
    st.stop()
account = auth.current_account(eng)
st.title("Complete The Look")
st.markdown(
    "Give it one fashion product and it finds products from **other categories that complete the outfit** — "
    "an open implementation of Pinterest's *Bootstrapping Complete The Look* (KDD 2020). "
    "Stylists can also judge the recommendations here, so that models are compared by human precision.")
st.caption(f"Listening on {auth.where_listening()}.")
if has_accounts(eng) and account is None:
    auth.sign_in_form(eng)
    st.stop()

s = loaders.status(ws)
c1, c2, c3, c4 = st.columns(4)
c1.metric("Demo data", "ready" if s.dataset else "missing")
c2.metric("Models trained", f"{sum(s.models.values())} / {len(METHODS)}")
c3.metric("Indices built", f"{sum(s.indices.values())} / {len(METHODS)}")
device = loaders.device_label()
c4.metric("Serving on", device, help="The model runs on a GPU when PyTorch finds one; this machine has none."
          if device == "CPU" else "The model runs on this GPU.")
st.caption(f"Workspace: `{ws.root}` (set `CTL_WORKSPACE` to move it)")

if not s.ready:
    st.info("This workspace has nothing to serve yet. Build the demo fashion universe, its dataset, the five "
            "models and their indices here (about 5 minutes on a 2-core CPU), or run `make run` in a terminal.",
            icon=":material/construction:")
    if account is not None and not account.can("admin"):
        st.caption("An admin can build it.")
        st.stop()
    if st.button("Build the demo now", type="primary", key="build_demo"):
        from ctl_core.workflows.demo import DemoConfig, build_demo
        bar = st.progress(0.0, text="starting…")
        log = st.empty()
        lines: list[str] = []

        def progress(stage: str, done: int, total: int) -> None:
            bar.progress(min(1.0, done / max(total, 1)), text=f"{stage}: {done}/{total}")

        def say(msg: str) -> None:
            lines.append(msg)
            log.code("\n".join(lines[-12:]))

        with st.spinner("Building the demo…"):
            build_demo(ws, DemoConfig(), progress=progress, say=say)
        st.success("Demo built.")
        st.rerun()
    st.stop()

st.subheader("Where to go")
for key, label in (
        ("ctl", "**Complete the Look** — recommendations for a catalogue product or an uploaded photo"),
        ("models", "**Models** — offline metrics (the paper's Table 4) and training curves"),
        ("studies", "**Studies** — create a human-evaluation study over the trained models"),
        ("label", "**Label pairs** — judge (query, candidate) pairs as a stylist"),
        ("results", "**Results** — human precision per model, failure modes, agreement"),
        ("users", "**Users** — accounts and roles, invitations, sign-in log")):
    if auth.can_open(key):
        st.page_link(page(key), label=label)

with st.expander("Workspace status, stage by stage"):
    st.table({"stage": ["universe", "dataset", "features", "evaluation"] + [f"model {m}" for m in METHODS]
              + [f"indices {m}" for m in METHODS],
              "ready": [s.universe, s.dataset, s.features, s.evaluation] + [s.models[m] for m in METHODS]
              + [s.indices[m] for m in METHODS]})
