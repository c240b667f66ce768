"""Scrapy's side of the crawl benchmark: the same work as examples/followall.c.

    /usr/bin/python3 -m scrapy runspider bench/scrapy_followall.py -a start_url=URL -O items.jsonl
"""
from urllib.parse import urlsplit

import scrapy


class FollowAllSpider(scrapy.Spider):
    name = "followall"

    def __init__(self, start_url=None, **kwargs):
        super().__init__(**kwargs)
        self.start_urls = [start_url]
        self.allowed_domains = [urlsplit(start_url).hostname]

    def parse(self, response):
        price = response.css("span.price::text").get()
        if price:
            yield {
                "url": response.url,
                "title": response.css("title::text").get(),
                "price": price,
            }
        yield from response.follow_all(css="a::attr(href)", callback=self.parse)
