import streamlit as st
st.title("monitor")
