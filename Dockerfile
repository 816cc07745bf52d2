# One image for the three services; compose picks the command. Python deps come from uv.lock.
FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 UV_PROJECT_ENVIRONMENT=/opt/venv PATH=/opt/venv/bin:$PATH
RUN pip install --no-cache-dir uv==0.13.9 && useradd --system --home /app us-playback
WORKDIR /app
COPY pyproject.toml uv.lock ./
COPY libs ./libs
COPY services ./services
COPY infra ./infra
RUN uv sync --frozen --no-dev --no-editable --all-packages
USER us-playback
