"""RewardPilot backend: everything but the UI. Never imports streamlit."""
