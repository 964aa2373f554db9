"""The streaming STOW receiver: STOW-RS of any size, outside Lambda (issue 22).

``python -m receiver`` serves it (uvicorn) on ``$PORT`` (8080): ``POST /studies`` and
``POST /studies/{study}`` streamed part by part to S3, and ``GET /health`` (public, no AWS
call) for the load balancer. In AWS it runs on ECS Fargate behind CloudFront at the same root
as the API; under ``make serve`` inside the local front (``local/front.py``).
"""
